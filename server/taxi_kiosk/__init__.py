"""Server side of the ``taxi_kiosk`` kind: orders from the kiosks, dispatch through a taxi provider adapter (a
built-in simulated fleet until a real platform is plugged in), state pushed back to the kiosks, figures per kiosk."""
