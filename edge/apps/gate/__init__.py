"""The ``gate`` kind: barrier lanes with licence-plate recognition (LPR camera push or on-device ONNX models),
offline decisions from cached lists, parking sessions and fees, and pedestrian door access (门禁)."""
