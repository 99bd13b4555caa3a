# Recipe sweep for SRCNN 9-1-5 x3: a PyTorch port of the same net on a GPU, curves to JSON.
# Used once to choose the training recipe (see README.md here); the project itself never needs it.
import json, math, os, sys, time
import numpy as np, torch, torch.nn as nn, torch.nn.functional as F
cfg = json.loads(sys.argv[1]); out = sys.argv[2]
dev = "cuda" if torch.cuda.is_available() else "cpu"
torch.manual_seed(cfg.get("seed", 0)); torch.backends.cudnn.benchmark = True
z = np.load(os.path.join(os.path.dirname(__file__), "x3.npz"))
data = torch.tensor(z["data"]).to(dev).float().div(255).unsqueeze(1)
label = torch.tensor(z["label"]).to(dev).float().div(255).unsqueeze(1)
names = sorted(k[:-3] for k in z.files if k.endswith("_hr"))
tests = [(torch.tensor(z[n + "_hr"]).to(dev).float(), torch.tensor(z[n + "_bic"]).to(dev)[None, None]) for n in names]
k1, k2, k3 = cfg.get("arch", (9, 1, 5))
class Net(nn.Module):
    def __init__(s):
        super().__init__()
        s.c = nn.ModuleList([nn.Conv2d(1, 64, k1), nn.Conv2d(64, 32, k2), nn.Conv2d(32, 1, k3)])
        for c in s.c:
            nn.init.trunc_normal_(c.weight, std=math.sqrt(2 / (c.in_channels * c.kernel_size[0] ** 2)) / .8796, a=-2 * math.sqrt(2 / (c.in_channels * c.kernel_size[0] ** 2)) / .8796, b=2 * math.sqrt(2 / (c.in_channels * c.kernel_size[0] ** 2)) / .8796); nn.init.zeros_(c.bias)
    def forward(s, x, pad=False):
        for i, c in enumerate(s.c):
            if pad: p = c.kernel_size[0] // 2; x = F.pad(x, (p, p, p, p), mode="replicate")
            x = c(x)
            if i < 2: x = F.relu(x)
        return x
net = Net().to(dev)
if cfg.get("opt") == "sgd":  # the paper: N(0, 1e-3) init, momentum 0.9, lr 1e-4 (1e-5 last layer)
    for c in net.c: nn.init.normal_(c.weight, std=1e-3); nn.init.zeros_(c.bias)
bs = cfg.get("bs", 128); epochs = cfg["epochs"]; lr = cfg.get("lr", 1e-3)
if cfg.get("opt") == "sgd":
    opt = torch.optim.SGD([{"params": list(net.c[0].parameters()) + list(net.c[1].parameters()), "scale": 1.0},
                           {"params": net.c[2].parameters(), "scale": 0.1}], lr=lr, momentum=0.9)
else:
    opt = torch.optim.Adam(net.parameters(), lr=lr)
steps = len(data) // bs; total = steps * epochs
sched = cfg.get("sched", "cos")
def lr_at(t):
    if sched == "cos": return lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t / total)))
    if sched == "const": return lr
    if sched == "step": return lr * (0.1 ** int(3 * t / total))
def evaluate():
    ps = []
    with torch.no_grad():
        for hr, bic in tests:
            sr = net(bic, pad=True)[0, 0].clamp(0, 1).mul(255).round()
            d = (sr - hr)[3:-3, 3:-3]; ps.append(10 * math.log10(255 ** 2 / d.pow(2).mean().item()))
    return float(np.mean(ps))
curve = []; t0 = time.time(); t = 0; limit = cfg.get("limit", 230)
for e in range(epochs):
    perm = torch.randperm(len(data), device=dev)
    for i in range(steps):
        idx = perm[i * bs:(i + 1) * bs]; x = data[idx]; y = label[idx]
        if cfg.get("aug"):
            k = int(torch.randint(0, 8, (1,)))
            if k >= 4: x = x.flip(3); y = y.flip(3)
            x = torch.rot90(x, k % 4, (2, 3)); y = torch.rot90(y, k % 4, (2, 3))
        for g in opt.param_groups: g["lr"] = lr_at(t) * g.get("scale", 1.0)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bool(cfg.get("bf16"))):
            pred = net(x)
        loss = F.mse_loss(pred.float(), y); opt.zero_grad(set_to_none=True); loss.backward(); opt.step(); t += 1
    if (e + 1) % cfg.get("every", 10) == 0 or e + 1 == epochs:
        curve.append((e + 1, round(time.time() - t0, 1), round(evaluate(), 3)))
        json.dump({"cfg": cfg, "curve": curve}, open(out, "w"))
    if time.time() - t0 > limit: break
json.dump({"cfg": cfg, "curve": curve, "done": e + 1}, open(out, "w"))
