"""Realtime: a clock, MIDI ports, CC/OSC control, the live melody player and the blended-timbre synth.

Each output has one engine core that does no I/O (:class:`~musicvae.realtime.player.MelodyPlayer`
returns MIDI messages per step, :class:`~musicvae.realtime.synth.SynthEngine` returns audio blocks),
driven by a clock and a :class:`~musicvae.realtime.params.ParamStore` snapshot, with thin adapters
around it (python-rtmidi, python-osc, sounddevice, an offline file renderer).
"""
