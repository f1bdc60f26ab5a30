"""The ruCLIP network, faithful to the published checkpoints, and everything needed to run it.

    config.py      ModelConfig from config.json; the published models' shapes
    folder.py      a checkpoint folder's files and the weights' fingerprint (no torch)
    hub.py         model name -> folder: a path, the demo model, the hub cache or a download (no torch)
    tokenizer.py   Russian text -> the reference's token ids (youtokentome BPE)
    preprocess.py  search.images' centre square -> the reference's normalised pixels (torch on use only)
    model.py       the network (ViT image tower, causal text tower)
    checkpoint.py  weights file -> network, strictly checked
    prepack.py, runtime.py   CPU speed-ups that change no result
    encoder.py     RuClip and load_model: tokenize, preprocess, encode into unit vectors
    onnx_files.py  where a model's ONNX export lives and whether to use it (no torch)
    onnx_export.py the two towers -> ONNX files, once per weights file (torch, onnx)
    onnx_model.py  OnnxRuClip: the export run by ONNX Runtime, as RuClip answers (no torch)
    demo_model/    the small offline model this project trains (package data)

Importing this package imports nothing heavy; each module says what it needs.
"""
