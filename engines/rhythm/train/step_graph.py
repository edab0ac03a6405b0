"""The rhythm engine's decoder-step graphs, built lean (training/export time only; needs ``onnx``).

The live engine calls a decoder step once per token, about 40 times a bar, on a batch of one.
At that size onnxruntime's cost is per node, not per multiply: the TorchScript export of
``Seq2Seq.step`` has 212 nodes after optimisation (reshapes, transposes, gathers and concats
around every attention), 155 us a call for Drum2Music on this machine. This module writes the
same computation with onnxruntime's fused ``com.microsoft.MultiHeadAttention`` (its own
key/value cache in and out) and ``SkipLayerNormalization`` (residual sum, bias and the next
norm in one node), about 70 nodes. The torch exporter cannot emit these operators from this
model, hence a graph written here. Same inputs, outputs and weights as before, so the
run-time code, the manifest's input list and the models' notes stay as they were
(``export_seq2seq`` checks each graph against the teacher-forced torch decoder).

Since 2026-12-06 the step no longer reads the encoder's memory: the cross-attention keys and
values depend on the memory alone, so the encoder graph computes them once per sequence
(``with_cross_kv``: outputs ``cross_k<i>``, ``cross_v<i>`` per decoder layer, beside ``memory``)
and the step takes them, and its self-attention cache, per layer (``past_k<i>``/``past_v<i>`` ->
``present_k<i>``/``present_v<i>``): no per-step projection of the memory, and no gathering and
stacking of one cache tensor for all layers. About a fifth less time per token (Drum2Music 121
-> 96 us, Rhythm2Drum 88 -> 68 us a step at a batch of one on this machine).

    python -m engines.rhythm.train.step_graph   # rewrites the shipped encoder/decoder files, in place
"""
from __future__ import annotations

import sys

import numpy as np

SEQ2SEQ = ("rhythm2drum", "drum2music")
_LN_EPS = 1e-5  # torch.nn.LayerNorm's default, as the models are trained


def weights_of_model(model) -> dict[str, np.ndarray]:
    """A torch ``Seq2Seq``'s decoder weights by name; Linear weights as (in, out), as MatMul takes them."""
    sd = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    w = {"tok": sd["tok.weight"], "pos": sd["tgt_pos"][0]}
    for k, v in sd.items():
        if k.startswith(("dec.", "dec_norm.", "head.")):
            is_linear = k.endswith(".weight") and v.ndim == 2
            w[k] = v.T.copy() if is_linear else v
    return w


def weights_of_onnx(path) -> dict[str, np.ndarray]:
    """The same weights read back from a TorchScript-exported step graph: biases and LayerNorm
    parameters keep their torch names there; each Linear's weight is the MatMul whose output
    the named bias is added to; the position table is what ``pos`` gathers from."""
    import onnx
    from onnx import numpy_helper

    g = onnx.load(str(path)).graph
    init = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    users: dict[str, list] = {}
    for n in g.node:
        for x in n.input:
            users.setdefault(x, []).append(n)
    w = {k[2:]: v for k, v in init.items() if k.startswith("m.")}  # the export's "m." wrapper
    w["tok"] = w.pop("tok.weight")
    for n in g.node:
        if n.op_type == "MatMul" and n.input[1] in init:
            biases = [x for a in users.get(n.output[0], []) if a.op_type == "Add"
                      for x in a.input if x.startswith("m.") and x.endswith(".bias")]
            if len(biases) != 1:
                raise ValueError(f"{path}: cannot tell which Linear MatMul {n.name} belongs to")
            w[biases[0][2:-len(".bias")] + ".weight"] = init[n.input[1]]
        elif n.op_type == "Gather" and n.input[1] == "pos":
            w["pos"] = init[n.input[0]]
    if "pos" not in w or "head.weight" not in w:
        raise ValueError(f"{path}: not a Seq2Seq decoder-step graph")
    return w


def weights_of_lean(path, encoder=None) -> dict[str, np.ndarray]:
    """The weights read back from a decoder step this module wrote: its constants are named after
    the model's parameters, with each packed key/value Linear split in two and the attention
    biases packed per operator. Since 2026-12-06 the cross-attention keys and values are the
    encoder's (``with_cross_kv``): give its file as ``encoder`` to read them too."""
    import onnx
    from onnx import numpy_helper

    def constants(p) -> dict[str, np.ndarray]:
        return {i.name: numpy_helper.to_array(i) for i in onnx.load(str(p)).graph.initializer}

    init = constants(path)
    if "token_table" not in init:
        raise ValueError(f"{path}: not a decoder step written by step_graph")
    w = {"tok": init["token_table"], "pos": init["position_table"]}
    w.update({k: v for k, v in init.items() if k.startswith(("dec.", "dec_norm.", "head."))})
    if encoder is not None:  # the cross-attention's key and value Linears
        w.update({k: v for k, v in constants(encoder).items() if k.startswith("dec.")})
    d = w["tok"].shape[1]
    for k in [k for k in w if k.endswith(".qkv.bias")]:  # packed for the fused operator
        p = k[:-len(".qkv.bias")]
        qkv = w.pop(k)
        w[p + ".q.bias"], w[p + ".k.bias"], w[p + ".v.bias"] = qkv[:d], qkv[d:2 * d], qkv[2 * d:]
    for k in [k for k in w if k.endswith(".k.weight")]:
        p = k[:-len(".k.weight")]
        w[p + ".kv.weight"] = np.concatenate([w.pop(p + ".k.weight"), w.pop(p + ".v.weight")], 1)
        w[p + ".kv.bias"] = np.concatenate([w.pop(p + ".k.bias"), w.pop(p + ".v.bias")])
    return w


def _layers(w: dict[str, np.ndarray]) -> int:
    return 1 + max(int(k.split(".")[1]) for k in w if k.startswith("dec."))


def cache_names(layers: int) -> tuple[list[str], list[str]]:
    """The step's per-layer cache inputs and the outputs that feed them at the next step, in the
    same order (past_k0, past_v0, past_k1, ...)."""
    past = [f"past_{t}{i}" for i in range(layers) for t in "kv"]
    return past, ["present" + n[len("past"):] for n in past]


def cross_names(layers: int) -> list[str]:
    return [f"cross_{t}{i}" for i in range(layers) for t in "kv"]


def with_cross_kv(encoder, w: dict[str, np.ndarray], heads: int):
    """The encoder ``onnx.ModelProto`` with the decoder's cross-attention keys and values added
    as outputs: ``cross_k<i>``/``cross_v<i>`` (batch, heads, memory_length, d/heads) per decoder
    layer, from its ``memory`` output (the layer's key/value Linear, split into heads)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    g = encoder.graph
    if [o.name for o in g.output] != ["memory"]:
        raise ValueError("the encoder must have the single output 'memory'")
    d = w["tok"].shape[1]
    dh = d // heads
    shape = numpy_helper.from_array(np.array([0, -1, heads, dh], np.int64), "cross.heads_shape")
    g.initializer.append(shape)
    for i in range(_layers(w)):
        p = f"dec.{i}.ca"
        kv_w, kv_b = w[p + ".kv.weight"], w[p + ".kv.bias"]
        for j, t in enumerate("kv"):
            name = f"{p}.{t}"
            g.initializer.extend([numpy_helper.from_array(kv_w[:, j * d:(j + 1) * d].copy(), name + ".weight"),
                                  numpy_helper.from_array(kv_b[j * d:(j + 1) * d].copy(), name + ".bias")])
            out = f"cross_{t}{i}"
            g.node.extend([
                helper.make_node("MatMul", ["memory", name + ".weight"], [out + ".mm"]),
                helper.make_node("Add", [out + ".mm", name + ".bias"], [out + ".lin"]),
                helper.make_node("Reshape", [out + ".lin", "cross.heads_shape"], [out + ".split"]),
                helper.make_node("Transpose", [out + ".split"], [out], perm=[0, 2, 1, 3])])
            g.output.append(helper.make_tensor_value_info(out, TensorProto.FLOAT,
                                                          ["batch", heads, "memory_length", dh]))
    onnx.checker.check_model(encoder)
    return encoder


def decoder_step(w: dict[str, np.ndarray], heads: int, metadata: dict | None = None):
    """The decoder-step ``onnx.ModelProto``: token (B, 1) int64, pos (1,) int64, the encoder's
    ``cross_k<i>``/``cross_v<i>`` (B, heads, S, d/heads) and the cache ``past_k<i>``/``past_v<i>``
    (B, heads, P, d/heads) per layer -> logits (B, vocab) and ``present_k<i>``/``present_v<i>``
    (P + 1), as ``Seq2Seq.step`` computes them (pre-norm blocks: self-attention with the cache,
    cross-attention over the memory, GELU MLP)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    layers = _layers(w)
    vocab_size, d = w["tok"].shape
    if d % heads:
        raise ValueError(f"width {d} does not split into {heads} heads")
    nodes, inits = [], []
    count = [0]

    def const(name: str, value) -> str:
        inits.append(numpy_helper.from_array(np.array(value), name))  # C order; a 0-d index stays 0-d
        return name

    def op(kind: str, inputs, outputs: int = 1, domain: str | None = None, **attrs):
        count[0] += 1
        names = [f"{kind}_{count[0]}_{j}" for j in range(outputs)]
        nodes.append(helper.make_node(kind, list(inputs), names, domain=domain, **attrs))
        return names if outputs > 1 else names[0]

    def linear(x: str, name: str, bias: bool = True) -> str:
        y = op("MatMul", [x, const(name + ".weight", w[name + ".weight"])])
        return op("Add", [y, const(name + ".bias", w[name + ".bias"])]) if bias else y

    def norm(x: str, name: str) -> str:
        return op("LayerNormalization", [x, const(name + ".weight", w[name + ".weight"]),
                                         const(name + ".bias", w[name + ".bias"])], axis=-1, epsilon=_LN_EPS)

    def self_attention(p: str, h: str, i: int) -> str:
        """q, key and value from ``h`` (one packed key/value Linear in the model, two MatMuls
        here; the biases go to the fused operator's packed bias), the cache in and out."""
        kv_w, kv_b = w[p + ".kv.weight"], w[p + ".kv.bias"]
        q = linear(h, p + ".q", bias=False)
        k = op("MatMul", [h, const(p + ".k.weight", kv_w[:, :d])])
        v = op("MatMul", [h, const(p + ".v.weight", kv_w[:, d:])])
        bias = const(p + ".qkv.bias", np.concatenate([w[p + ".q.bias"], kv_b]))
        y = op("MultiHeadAttention", [q, k, v, bias, "", "", f"past_k{i}", f"past_v{i}"], 1, "com.microsoft",
               num_heads=heads)
        nodes[-1].output.extend([f"present_k{i}", f"present_v{i}"])
        return linear(y, p + ".o", bias=False)  # its bias is added by the next norm

    def cross_attention(p: str, h: str, i: int) -> str:
        """q from ``h`` (its bias added here); keys and values with their biases, already
        split into heads by the encoder (``with_cross_kv``)."""
        y = op("MultiHeadAttention", [linear(h, p + ".q"), f"cross_k{i}", f"cross_v{i}"], 1, "com.microsoft",
               num_heads=heads)
        return linear(y, p + ".o", bias=False)

    def add_norm(y: str, x: str, bias: str, name: str) -> tuple[str, str]:
        """x + y + bias, and its LayerNorm ``name``: the residual sum and the next block's
        input in one fused node (its fourth output is the sum)."""
        normed, _, _, total = op("SkipLayerNormalization", [
            y, x, const(name + ".weight", w[name + ".weight"]), const(name + ".bias", w[name + ".bias"]),
            const(bias, w[bias])], 4, "com.microsoft", epsilon=_LN_EPS)
        return normed, total

    x = op("Add", [op("Gather", [const("token_table", w["tok"]), "token"]),
                   op("Gather", [const("position_table", w["pos"]), "pos"])])
    h = norm(x, "dec.0.n1")
    for i in range(layers):
        p = f"dec.{i}"
        h, x = add_norm(self_attention(p + ".sa", h, i), x, p + ".sa.o.bias", p + ".n2")
        h, x = add_norm(cross_attention(p + ".ca", h, i), x, p + ".ca.o.bias", p + ".n3")
        y = linear(op("Gelu", [linear(h, p + ".mlp.0")], domain="com.microsoft"), p + ".mlp.2", bias=False)
        h, x = add_norm(y, x, p + ".mlp.2.bias", f"dec.{i + 1}.n1" if i + 1 < layers else "dec_norm")
    logits = linear(h, "head")
    nodes.append(helper.make_node("Squeeze", [logits, const("axis1", np.array([1], np.int64))], ["logits"]))
    f, dh = TensorProto.FLOAT, d // heads
    past, present = cache_names(layers)
    graph = helper.make_graph(
        nodes, "decoder_step",
        [helper.make_tensor_value_info("token", TensorProto.INT64, ["batch", 1]),
         helper.make_tensor_value_info("pos", TensorProto.INT64, [1])]
        + [helper.make_tensor_value_info(n, f, ["batch", heads, "memory_length", dh]) for n in cross_names(layers)]
        + [helper.make_tensor_value_info(n, f, ["batch", heads, "past", dh]) for n in past],
        [helper.make_tensor_value_info("logits", f, ["batch", vocab_size])]
        + [helper.make_tensor_value_info(n, f, ["batch", heads, "length", dh]) for n in present],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.microsoft", 1)],
                              producer_name="engines.rhythm.train.step_graph")
    model.ir_version = 8
    for k, v in (metadata or {}).items():
        e = model.metadata_props.add()
        e.key, e.value = str(k), str(v)
    onnx.checker.check_model(model)
    return model


def encode(encoder, feed: dict) -> dict[str, np.ndarray]:
    """The encoder session's outputs by name."""
    return dict(zip([o.name for o in encoder.get_outputs()], encoder.run(None, feed)))


def decode_steps(decoder, encoded: dict[str, np.ndarray], tokens: np.ndarray) -> np.ndarray:
    """Logits (B, T, vocab) of ``tokens`` (B, T) fed one at a time from an empty cache through the
    step session ``decoder``, of either interface: per-layer caches and the encoder's cross
    keys and values (``decoder_step``), or one cache for all layers and the memory (this
    module's graphs before, TorchScript exports of ``Seq2Seq.step``). ``encoded``: the
    encoder's outputs by name."""
    ins = {i.name: i.shape for i in decoder.get_inputs()}
    b = tokens.shape[0]
    if "memory" in ins:
        layers, _, heads, _, dh = ins["past_k"]
        feed = {"memory": encoded["memory"]}
        past, present = ["past_k", "past_v"], ["present_k", "present_v"]
        empty = np.zeros((layers, b, heads, 0, dh), np.float32)
    else:
        past = [n for n in ins if n.startswith("past_")]
        present = ["present" + n[len("past"):] for n in past]
        _, heads, _, dh = ins[past[0]]
        feed = {n: encoded[n] for n in ins if n.startswith("cross_")}
        empty = np.zeros((b, heads, 0, dh), np.float32)
    feed.update({n: empty for n in past})
    outs = [o.name for o in decoder.get_outputs()]
    logits = []
    for t in range(tokens.shape[1]):
        feed.update(token=np.ascontiguousarray(tokens[:, t:t + 1], np.int64), pos=np.array([t], np.int64))
        got = dict(zip(outs, decoder.run(None, feed)))
        logits.append(got["logits"])
        feed.update({p: got[q] for p, q in zip(past, present)})
    return np.stack(logits, 1)


def max_difference(a: tuple, b: tuple, steps: int = 24, seed: int = 0) -> float:
    """Largest logit difference of two (encoder, decoder step) pairs of files fed the same random
    source and tokens, from an empty cache, at batch 1 and 3 (either step interface)."""
    from engines.runtime import open_session

    (ea, da), (eb, db) = ([open_session(p, single_thread=True) for p in pair] for pair in (a, b))
    vocab = da.get_outputs()[0].shape[1]
    rng = np.random.default_rng(seed)
    worst = 0.0
    for batch in (1, 3):
        feed = {}
        for i in ea.get_inputs():
            shape = [batch] + list(i.shape[1:])
            feed[i.name] = (rng.integers(0, 2, shape) if "int" in i.type
                            else rng.standard_normal(shape).astype(np.float32))
        tokens = rng.integers(0, vocab, (batch, steps))
        la = decode_steps(da, encode(ea, feed), tokens)
        lb = decode_steps(db, encode(eb, feed), tokens)
        worst = max(worst, float(np.abs(la - lb).max()))
    return worst


def main(argv=None) -> int:
    """Rewrite the shipped encoder/decoder-step pairs whose step still reads the memory (this
    module's graphs before 2026-12-06, or TorchScript exports) into the per-layer interface, from
    their own weights; each pair checked against the pair it replaces, then the manifest's
    checksums and input/output lists updated."""
    import tempfile
    from pathlib import Path

    import onnx

    from engines import manifest
    from engines.runtime import MODELS_DIR, sha256_of

    done = {}
    for prefix in SEQ2SEQ:
        enc_path, dec_path = MODELS_DIR / f"{prefix}_encoder.onnx", MODELS_DIR / f"{prefix}_decoder.onnx"
        old = onnx.load(str(dec_path))
        if "memory" not in [i.name for i in old.graph.input]:
            print(f"{dec_path.name}: already per layer", file=sys.stderr)
            continue
        meta = {p.key: p.value for p in old.metadata_props}
        heads = next(i for i in old.graph.input if i.name == "past_k").type.tensor_type.shape.dim[2].dim_value
        lean = any(o.domain == "com.microsoft" for o in old.opset_import)
        w = weights_of_lean(dec_path) if lean else weights_of_onnx(dec_path)
        with tempfile.TemporaryDirectory() as tmp:
            new_enc, new_dec = Path(tmp) / enc_path.name, Path(tmp) / dec_path.name
            onnx.save(with_cross_kv(onnx.load(str(enc_path)), w, heads), str(new_enc))
            onnx.save(decoder_step(w, heads, meta), str(new_dec))
            err = max_difference((enc_path, dec_path), (new_enc, new_dec))
            if err > 1e-4:
                raise RuntimeError(f"{prefix}: the new graphs differ from the shipped ones by {err}")
            new_enc.replace(enc_path)
            new_dec.replace(dec_path)
        done[prefix] = err
        print(f"{prefix}: cross keys/values from the encoder, caches per layer; largest difference {err:.2g}",
              file=sys.stderr)

    def prepare(name, new, old):
        graph = onnx.load(str(MODELS_DIR / old["file"])).graph
        return {**old, "sha256": sha256_of(MODELS_DIR / old["file"]), "bytes": (MODELS_DIR / old["file"]).stat().st_size,
                "inputs": [i.name for i in graph.input], "outputs": [o.name for o in graph.output]}

    if done:  # files, checksums and the interface change: training and metrics stay
        manifest.update(MODELS_DIR / "manifest.json",
                        {f"{p}_{part}": {} for p in done for part in ("encoder", "decoder")}, prepare=prepare)
    return 0


if __name__ == "__main__":
    sys.exit(main())
