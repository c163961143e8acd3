#!/usr/bin/env python3
"""Write a tiny random llama2.c checkpoint (legacy layout, f32, shared
classifier) and a byte-level tokenizer.bin, for CLI tests that must run
without the fixtures: make_tiny_llama2c.py OUT_DIR [SEED [LAYERS [HIDDEN]]]
(defaults 1, 2, 512; dim is 256 so that K formats apply)."""
import struct
import sys

out = sys.argv[1]
seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
n_layers = int(sys.argv[3]) if len(sys.argv) > 3 else 2
hidden = int(sys.argv[4]) if len(sys.argv) > 4 else 512
dim, n_heads, n_kv, seq_len = 256, 4, 4, 32
tokens = [b"<unk>", b"<s>", b"</s>"] + [b"<0x%02X>" % i for i in range(256)]
vocab = len(tokens)

state = seed & 0xFFFFFFFFFFFFFFFF


def values(n, scale):
    """n floats in [-scale, scale) from a 64-bit LCG (Knuth's MMIX constants)."""
    global state
    out = []
    for _ in range(n):
        state = (state * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF
        out.append(((state >> 40) / float(1 << 24) * 2.0 - 1.0) * scale)
    return struct.pack("<%df" % n, *out)


head = dim // n_heads
with open(out + "/model.bin", "wb") as f:
    f.write(struct.pack("<7i", dim, hidden, n_layers, n_heads, n_kv, vocab, seq_len))
    f.write(values(vocab * dim, 0.5))                         # token_embedding
    f.write(struct.pack("<%df" % (n_layers * dim), *([1.0] * n_layers * dim)))  # rms_att
    for rows in (dim, n_kv * head, n_kv * head, dim):         # wq, wk, wv, wo
        f.write(values(n_layers * rows * dim, 0.1))
    f.write(struct.pack("<%df" % (n_layers * dim), *([1.0] * n_layers * dim)))  # rms_ffn
    f.write(values(n_layers * hidden * dim, 0.1))             # w1
    f.write(values(n_layers * dim * hidden, 0.1))             # w2
    f.write(values(n_layers * hidden * dim, 0.1))             # w3
    f.write(struct.pack("<%df" % dim, *([1.0] * dim)))        # rms_final
    f.write(b"\0" * (2 * seq_len * (head // 2) * 4))          # freq_cis_real, freq_cis_imag

with open(out + "/tokenizer.bin", "wb") as f:
    f.write(struct.pack("<i", max(len(t) for t in tokens)))
    for t in tokens:
        f.write(struct.pack("<fi", 0.0, len(t)) + t)
