"""Real-time playback: audio device, MIDI port + scheduler, and the transport that ties them.

No Qt, and no audio or MIDI hardware touched at import: devices open in ``AudioOutput.open()``
and ``MidiPort(...)``. Typical use::

    audio = AudioOutput(48000, 256, device=None); audio.open()
    audio.set_sources([BufferSource(stem, 48000) for stem in stems])
    midi = MidiScheduler(MidiPort())            # virtual port "Studio", API chosen automatically
    midi.set_parts([MidiPart(track.notes, track.channel)], tempo)
    t = Transport(tempo=tempo, duration_s=30, audio=audio, midi=midi)
    t.play(); ...; t.seek(12.0); t.set_loop(8.0, 16.0); t.pause(); t.close()
"""
from studio.transport.audio import AudioOutput, AudioSource, BufferSource
from studio.transport.clock import MasterClock, Timeline
from studio.transport.devices import (
    AudioDevice, choose_midi_api, describe_devices, jack_server_running, list_audio_devices,
    list_midi_ports, rescan_audio,
)
from studio.transport.midi import MidiPart, MidiPort, MidiScheduler
from studio.transport.transport import State, Transport

__all__ = [
    "AudioDevice", "AudioOutput", "AudioSource", "BufferSource", "MasterClock", "MidiPart", "MidiPort",
    "MidiScheduler", "State", "Timeline", "Transport", "choose_midi_api", "describe_devices",
    "jack_server_running", "list_audio_devices", "list_midi_ports", "rescan_audio",
]
