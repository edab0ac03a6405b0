"""Performer engine (Foley Music / MI-Net style): a musician's body and hand keypoints per frame
-> MIDI notes for a chosen instrument (drums, guitar, violin, piano).

Run time (numpy, scipy, onnxruntime): ``keypoints`` (readers of MediaPipe / OpenPose / own
files), ``gestures`` (kinematic playing-gesture models and gesture-onset detection), ``vocab``
(MIDI event tokens), ``infer`` (``Performer.generate``). Training: ``train/``.
"""
