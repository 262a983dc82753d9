"""Stand-ins for the couriers (JNE, J&T, SiCepat, AnterAja, GoSend), each speaking its own HTTP API.

``tariffs``: what they charge and promise; ``shipments``: booked parcels, the control API's moves
and the signed tracking webhooks; ``web``: each courier's wire shapes.
"""
