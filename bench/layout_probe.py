# Probe: does cuBLAS run x @ W (W stored [K, N], fusegraph's layout) slower than x @ W.t() (W stored
# [N, K], PyTorch's nn.Linear layout) at the K=768 shapes where fusegraph trails PyTorch?
import torch
def t(fn, n=50):
    for _ in range(5): fn()
    s, e = torch.cuda.Event(True), torch.cuda.Event(True)
    times = []
    for _ in range(7):
        s.record()
        for _ in range(n): fn()
        e.record(); e.synchronize(); times.append(s.elapsed_time(e) / n)
    return sorted(times)[3]
for tf32 in (False, True):
    torch.backends.cuda.matmul.allow_tf32 = tf32
    for M in (2048, 8192):
        K, N = 768, 3072
        x = torch.randn(M, K, device="cuda"); w_nk = torch.randn(N, K, device="cuda"); w_kn = w_nk.t().contiguous(); b = torch.randn(N, device="cuda")
        nn = t(lambda: torch.addmm(b, x, w_kn)); tn = t(lambda: torch.addmm(b, x, w_nk.t()))
        print(f"{'tf32' if tf32 else 'f32 '} M={M}: W[K,N] {nn:.4f} ms  W[N,K] (nn.Linear) {tn:.4f} ms  ratio {nn/tn:.3f}")
