"""Putting linli on a real site: systemd units, provisioning bundles, ``linli install``.

Layout on an installed machine (a Raspberry Pi for an agent, any Debian machine for the server)::

    /opt/linli/slots/a/{src,venv}    one release: the source tree and its virtual environment
    /opt/linli/slots/b/…             the other slot (used by updates: install there, switch, roll back)
    /opt/linli/current -> slots/a    what the services run
    /etc/linli/agents/<device>.yaml  an agent's config (from config/<kind>.yaml)
    /etc/linli/server.yaml           the server's config
    /etc/linli/secrets/              secrets (0600, owned by the service user)
    /var/lib/linli/<device>/         an agent's data (outbox, journals, evidence); /var/lib/linli/server the server's
    /etc/systemd/system/linli-*.service
"""
