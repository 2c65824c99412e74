"""microgpt on pygrad: a character-level GPT trained with a scalar Value.

The algorithm of Karpathy's microgpt (one transformer layer, n_embd=16,
block_size=16, 4 heads, RMSNorm, ReLU MLP, learned positions, Adam with
beta1=0.85, beta2=0.99 and a linearly decaying learning rate), written
against pygrad's Value. Each step trains on one name: the loss is the mean
of -log p(next character) over its positions.

    python examples/microgpt.py [--steps 1000] [--samples 20]
    python examples/microgpt.py --compiled          # one program per name length, run in C
    python examples/microgpt.py --compiled --fast   # the same, sums reordered (not bit-exact)
    python examples/microgpt.py --n-embd 64         # a wider model (n_embd divisible by 4 heads)
    python examples/microgpt.py --engine python     # the pure-Python engine
    python examples/microgpt.py --data FILE         # one document per line
    python examples/microgpt.py --plot loss.png     # also save the loss curve

Data: the first names shipped in the `names` package (pip install names),
lower-cased, de-duplicated and sorted, unless --data is given.
"""
import functools
import os
import random
import time

import pygrad

N_LAYER, N_EMBD, BLOCK_SIZE, N_HEAD = 1, 16, 16, 4
HEAD_DIM = N_EMBD // N_HEAD
LEARNING_RATE, BETAS, EPS = 0.01, (0.85, 0.99), 1e-8


def load_docs(path=None):
    """Documents, one per line of `path`, or the `names` package's first names."""
    if path is not None:
        with open(path, encoding="utf-8") as f:
            return [line.strip() for line in f if line.strip()]
    try:
        import names
    except ImportError:
        raise SystemExit("microgpt: no data. pip install names (or pygrad's 'examples' extra), "
                         "or pass --data FILE with one document per line") from None
    here = os.path.dirname(names.__file__)
    firsts = set()
    for fname in ("dist.male.first", "dist.female.first"):
        with open(os.path.join(here, fname), encoding="utf-8") as f:
            firsts.update(line.split()[0].lower() for line in f if line.strip())
    return sorted(firsts)


class Tokenizer:
    """Characters of the documents, sorted; BOS (begin/end of a document) after them."""

    def __init__(self, docs):
        self.chars = sorted(set("".join(docs)))
        self.bos = len(self.chars)
        self.vocab_size = len(self.chars) + 1
        self._index = {c: i for i, c in enumerate(self.chars)}

    def encode(self, doc):
        return [self.bos] + [self._index[c] for c in doc] + [self.bos]


class GPT:
    """microgpt's model over any micrograd-style Value class.

    `pick` and `max_of` are the two places where eager microgpt lets Python
    data choose the graph (indexing by token id, a float max); CompiledGPT
    turns them into graph ops so that a traced program can be replayed."""

    def __init__(self, vocab_size, Value):
        def matrix(nout, nin, std=0.08):
            return [[Value(random.gauss(0, std)) for _ in range(nin)] for _ in range(nout)]

        sd = {"wte": matrix(vocab_size, N_EMBD), "wpe": matrix(BLOCK_SIZE, N_EMBD),
              "lm_head": matrix(vocab_size, N_EMBD)}
        for i in range(N_LAYER):
            for name in ("attn_wq", "attn_wk", "attn_wv", "attn_wo"):
                sd[f"layer{i}.{name}"] = matrix(N_EMBD, N_EMBD)
            sd[f"layer{i}.mlp_fc1"] = matrix(4 * N_EMBD, N_EMBD)
            sd[f"layer{i}.mlp_fc2"] = matrix(N_EMBD, 4 * N_EMBD)
        self.state_dict = sd
        self.params = [p for mat in sd.values() for row in mat for p in row]

    def pick(self, seq, i):
        return seq[i]

    def max_of(self, values):
        return max(v.data for v in values)

    @staticmethod
    def linear(x, w):
        return [sum(wi * xi for wi, xi in zip(wo, x)) for wo in w]

    @staticmethod
    def rmsnorm(x):
        ms = sum(xi * xi for xi in x) / len(x)
        scale = (ms + 1e-5) ** -0.5
        return [xi * scale for xi in x]

    def softmax(self, logits):
        max_val = self.max_of(logits)
        exps = [(v - max_val).exp() for v in logits]
        total = sum(exps)
        return [e / total for e in exps]

    def attention(self, q, keys, values):
        out = []
        for h in range(N_HEAD):
            hs = slice(h * HEAD_DIM, (h + 1) * HEAD_DIM)
            q_h, k_h, v_h = q[hs], [k[hs] for k in keys], [v[hs] for v in values]
            logits = [sum(q_h[j] * k_t[j] for j in range(HEAD_DIM)) / HEAD_DIM ** 0.5 for k_t in k_h]
            weights = self.softmax(logits)
            out.extend(sum(weights[t] * v_h[t][j] for t in range(len(v_h))) for j in range(HEAD_DIM))
        return out

    def forward(self, token_id, pos_id, keys, values):
        """Logits for the next token; appends this position's keys and values."""
        sd, linear, rmsnorm = self.state_dict, self.linear, self.rmsnorm
        tok_emb = self.pick(sd["wte"], token_id)
        pos_emb = sd["wpe"][pos_id]
        x = rmsnorm([t + p for t, p in zip(tok_emb, pos_emb)])
        for li in range(N_LAYER):
            residual = x
            x = rmsnorm(x)
            keys[li].append(linear(x, sd[f"layer{li}.attn_wk"]))
            values[li].append(linear(x, sd[f"layer{li}.attn_wv"]))
            x = self.attention(linear(x, sd[f"layer{li}.attn_wq"]), keys[li], values[li])
            x = [a + b for a, b in zip(linear(x, sd[f"layer{li}.attn_wo"]), residual)]
            residual = x
            x = [xi.relu() for xi in linear(rmsnorm(x), sd[f"layer{li}.mlp_fc1"])]
            x = [a + b for a, b in zip(linear(x, sd[f"layer{li}.mlp_fc2"]), residual)]
        return linear(x, sd["lm_head"])

    def loss(self, tokens):
        """Mean -log p(next token) over the first min(block_size, len - 1) positions."""
        n = min(BLOCK_SIZE, len(tokens) - 1)
        keys, values = [[] for _ in range(N_LAYER)], [[] for _ in range(N_LAYER)]
        losses = []
        for pos in range(n):
            probs = self.softmax(self.forward(tokens[pos], pos, keys, values))
            losses.append(-self.pick(probs, tokens[pos + 1]).log())
        return (1 / n) * sum(losses)

    def sample(self, tok, temperature=0.5):
        """One new document, characters drawn until BOS or block_size."""
        keys, values = [[] for _ in range(N_LAYER)], [[] for _ in range(N_LAYER)]
        token, out = tok.bos, []
        with pygrad.no_grad():
            for pos in range(BLOCK_SIZE):
                probs = self.softmax([v / temperature for v in self.forward(token, pos, keys, values)])
                token = random.choices(range(tok.vocab_size), weights=[p.data for p in probs])[0]
                if token == tok.bos:
                    break
                out.append(tok.chars[token])
        return "".join(out)


class CompiledGPT(GPT):
    """The same model with the data-chosen parts as graph ops, so that
    `pygrad.compile_fn` can trace `loss` once per document length and
    replay it in C with each document's token ids."""

    def __init__(self, vocab_size, Value, exact=True):
        super().__init__(vocab_size, Value)
        # programs by length; exact=False lets sums be reordered (results within rounding of exact)
        self.compiled_loss = pygrad.compile_fn(self.loss, params=self.params, exact=exact)

    def pick(self, seq, i):
        return pygrad.select(i, seq)

    def max_of(self, values):
        return pygrad.max_data(values)


def train(model, tok, docs, steps, compiled=False, log=print):
    """microgpt's training loop; returns the losses and the time it took (s)."""
    opt = pygrad.optim.Adam(model.params, lr=LEARNING_RATE, betas=BETAS, eps=EPS)
    losses, t0 = [], time.perf_counter()
    for step in range(steps):
        tokens = tok.encode(docs[step % len(docs)])
        if compiled:     # forward and backward in C; a new length traces once
            loss = model.compiled_loss.accumulate(tokens[:BLOCK_SIZE + 1])
        else:
            loss_value = model.loss(tokens)
            loss_value.backward()
            loss = loss_value.data
        opt.lr = LEARNING_RATE * (1 - step / steps)
        opt.step()
        opt.zero_grad()
        losses.append(loss)
        log(f"step {step + 1:4d} / {steps:4d} | loss {loss:.12f}")
    return losses, time.perf_counter() - t0


def set_n_embd(n_embd):
    """The model's width (the module's constants, which GPT reads)."""
    global N_EMBD, HEAD_DIM
    N_EMBD, HEAD_DIM = n_embd, n_embd // N_HEAD


def setup(docs, Value, model_class=GPT, seed=42):
    """Seed, shuffle, tokenizer and parameters, in microgpt's order."""
    random.seed(seed)
    docs = list(docs)
    random.shuffle(docs)
    tok = Tokenizer(docs)
    return docs, tok, model_class(tok.vocab_size, Value)


def main(argv=None):
    import _cli  # here, not above: tests and benchmarks load this file by path, without examples/ on sys.path
    ap = _cli.Parser(__doc__, seed=42, plot="save the loss curve")   # microgpt's seed
    ap.add_argument("--steps", type=_cli.positive_int, default=1000, help="training steps, one document each")
    ap.add_argument("--data", type=_cli.existing_file,
                    help="text file, one document per line (default: the names package)")
    ap.add_argument("--samples", type=_cli.count, default=20, help="names to generate after training")
    ap.add_argument("--compiled", action="store_true", help="train through pygrad.compile_fn")
    ap.add_argument("--fast", action="store_true",
                    help="with --compiled: let C reorder sums (results not bit-identical to eager)")
    ap.add_argument("--n-embd", type=_cli.positive_int, default=N_EMBD, help=f"embedding width, a multiple of {N_HEAD}")
    args = ap.parse_args(argv)
    if args.fast and not args.compiled:
        ap.error("--fast needs --compiled")
    if args.n_embd < N_HEAD or args.n_embd % N_HEAD:
        ap.error(f"--n-embd must be a positive multiple of {N_HEAD} (the heads)")
    set_n_embd(args.n_embd)
    model_class = functools.partial(CompiledGPT, exact=not args.fast) if args.compiled else GPT
    docs, tok, model = setup(load_docs(args.data), pygrad.Value, model_class, args.seed)
    print(f"{len(docs)} documents, vocabulary {tok.vocab_size}, {len(model.params)} parameters, "
          f"engine {pygrad.get_engine()}")
    from _progress import progress  # beside this script (imported here: tests load the module alone)
    report = progress(args.steps, "training")
    losses, seconds = train(model, tok, docs, args.steps, args.compiled, log=report)
    report.close()
    print(f"training: {1000 * seconds / max(args.steps, 1):.3f} ms/step")
    for i in range(args.samples):
        print(f"sample {i + 1:2d}: {model.sample(tok)}")
    if args.plot:
        plot(losses, args.plot)


def plot(losses, path):
    from _plotting import pyplot, save
    plt = pyplot()
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(losses, linewidth=0.8)
    ax.set(xlabel="step", ylabel="loss", title="microgpt training loss")
    save(fig, path)


if __name__ == "__main__":
    main()
