"""Guard alerts and manager notices: the events a person must see that are not device faults (a blacklisted car,
tailgating, a forced door; a refused charge, a longest-hold release). Who is told is declared per event type in
the contract (``EventInfo.audience`` / ``EventData.event_audience``); device faults become work orders instead."""
