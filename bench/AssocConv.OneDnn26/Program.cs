// ResNet-56's plain training step (batch 128, channels-last, SGD as the bench) with libtorch's convolutions against the
// same step with its 3x3 convolutions on oneDNN 2 (Debian's libdnnl2, the library PyTorch 1.13 runs), interleaved in one
// process; with --peer, PyTorch 1.13's own step (bench/pytorch_peer.py, channels-last, in place) runs between rounds.
// Run: LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 MALLOC_CONF=dirty_decay_ms:-1,muzzy_decay_ms:-1 \
//      dotnet run -c Release --project bench/AssocConv.OneDnn26 -- [--rounds 6] [--steps 4] [--threads 2] [--peer]
using System.Diagnostics;
using System.Text.Json;
using AssocConv.Benchmarking;
using AssocConv.Csg;
using AssocConv.Data;
using AssocConv.Models;
using AssocConv.Native;
using AssocConv.OneDnn26;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

int rounds = 6, steps = 4, threads = 2;
bool peer = false;
for (int i = 0; i < args.Length; i++)
{
    int Next() => i + 1 < args.Length && int.TryParse(args[++i], out int v) && v > 0 ? v
        : throw new ArgumentException($"{args[i - 1]} needs a positive whole number");
    switch (args[i])
    {
        case "--rounds": rounds = Next(); break;
        case "--steps": steps = Next(); break;
        case "--threads": threads = Next(); break;
        case "--peer": peer = true; break;
        default: Console.Error.WriteLine($"unknown option {args[i]}; options: --rounds N --steps N --threads N --peer"); return 2;
    }
}
set_num_threads(threads);
Console.WriteLine($"oneDNN {OneDnn26Library.Version} (libdnnl.so.2) against libtorch's bundled oneDNN; {threads} threads, malloc: {NativeAllocator.Name}");

// Each shape of ResNet-56's 3x3 convolutions agrees with libtorch's conv2d: forward and both gradients.
foreach (var s in new[] { (16L, 16L, 32L, 1L), (16, 32, 32, 2), (32, 32, 16, 1), (32, 64, 16, 2), (64, 64, 8, 1) })
{
    using var scope = NewDisposeScope();
    var conv = nn.Conv2d(s.Item1, s.Item2, 3, s.Item4, 1, bias: false);
    var x = randn(128, s.Item1, s.Item3, s.Item3).ToMemoryFormat(MemoryFormat.ChannelsLast).requires_grad_();
    var ours = new OneDnn26Conv2d(conv);
    var y = ours.call(x);
    var g = randn_like(y);
    var (dx, dw) = Gradients(y, g, x, conv.weight!);
    var yRef = nn.functional.conv2d(x, conv.weight!, strides: [s.Item4, s.Item4], padding: [1, 1]);
    var (dxRef, dwRef) = Gradients(yRef, g, x, conv.weight!);
    double worst = new[] { Rel(y, yRef), Rel(dx, dxRef), Rel(dw, dwRef) }.Max();
    if (worst > 1e-5)
        throw new InvalidOperationException($"oneDNN 2 disagrees with libtorch on {s}: relative error {worst:E2}");
}
Console.WriteLine("each convolution shape agrees with libtorch's conv2d (forward and both gradients, relative error < 1e-5)");

var entry = ModelZoo.Get("resnet56");
manual_seed(1);
var libtorch = entry.Build(new ModelOptions { Plain = true });
manual_seed(1);
var swapped = entry.Build(new ModelOptions { Plain = true });
int replaced = 0;
foreach (var (parent, name, child) in ModuleSurgery.Edges(swapped).ToList())
{
    // every 3x3 convolution but the stem (3 input channels; a field typed Conv2d), which stays libtorch's in both
    if (child is Conv2d conv && conv.weight!.shape[1] > 3)
    {
        ModuleSurgery.Replace(parent, name, new OneDnn26Conv2d(conv));
        replaced++;
    }
}
libtorch.train();
swapped.train();
using var batch = randn(128, 3, 32, 32).ToMemoryFormat(MemoryFormat.ChannelsLast);
using var labels = randint(0, 10, [128]);
Console.WriteLine($"{replaced} of ResNet-56's convolutions on oneDNN 2");
double swappedDisagreement = NetworkDisagreement(swapped);

var libtorchOptimizer = optim.SGD(libtorch.parameters(), 0.01, momentum: 0.9, weight_decay: 5e-4);
var swappedOptimizer = optim.SGD(swapped.parameters(), 0.01, momentum: 0.9, weight_decay: 5e-4);
for (int i = 0; i < 2; i++) { Step(libtorch, libtorchOptimizer); Step(swapped, swappedOptimizer); }

var rows = new List<(double Libtorch, double OneDnn2, double? Peer)>();
for (int r = 0; r < rounds; r++)
{
    double a, b;
    if (r % 2 == 0) { a = Rate(libtorch, libtorchOptimizer); b = Rate(swapped, swappedOptimizer); }
    else { b = Rate(swapped, swappedOptimizer); a = Rate(libtorch, libtorchOptimizer); }
    double? p = peer ? PeerRate() : null;
    rows.Add((a, b, p));
    Console.WriteLine($"round {r + 1}/{rounds}: libtorch convolutions {a:F1}, oneDNN 2 convolutions {b:F1}" + (p is { } q ? $", PyTorch 1.13 {q:F1}" : "") + " img/s");
}
// last: switching libtorch's oneDNN off and on again slows its later steps
Console.WriteLine($"whole-network gradients against libtorch's (float32, relative L2 difference, worst parameter): oneDNN 2 convolutions " +
                  $"{swappedDisagreement:E1}; libtorch's with its oneDNN switched off, for scale, {NetworkDisagreement(null):E1}");
Console.WriteLine();
Console.WriteLine($"| ResNet-56 plain step, batch 128 | images/s (median of {rounds}) | oneDNN 2 convolutions / it (paired median) |");
Console.WriteLine("|---|---:|---:|");
Console.WriteLine($"| ours, libtorch's convolutions (oneDNN 3) | {Median(rows.Select(x => x.Libtorch)):F1} | {Median(rows.Select(x => x.OneDnn2 / x.Libtorch)):F3}x |");
Console.WriteLine($"| ours, 3x3 convolutions on oneDNN 2 | {Median(rows.Select(x => x.OneDnn2)):F1} | |");
if (peer)
{
    Console.WriteLine($"| PyTorch 1.13, channels-last, in place | {Median(rows.Select(x => x.Peer!.Value)):F1} | {Median(rows.Select(x => x.OneDnn2 / x.Peer!.Value)):F3}x |");
    Console.WriteLine($"ours with libtorch's convolutions over PyTorch (paired median): {Median(rows.Select(x => x.Libtorch / x.Peer!.Value)):F3}x");
}
return 0;

static (Tensor, Tensor) Gradients(Tensor y, Tensor g, Tensor x, Tensor w)
{
    var grads = autograd.grad([y], [x, w], [g]);
    return (grads[0], grads[1]);
}

static double Rel(Tensor a, Tensor b) => ((a - b).abs().max() / b.abs().max()).item<float>();

double NetworkDisagreement(nn.Module<Tensor, Tensor>? other)
{
    using var scope = NewDisposeScope();
    var reference = GradientsOf(libtorch);
    List<Tensor> compared;
    if (other is null)
    {
        OneDnn.Enabled = false;
        try { compared = GradientsOf(libtorch); }
        finally { OneDnn.Enabled = true; }
    }
    else compared = GradientsOf(other);
    return reference.Zip(compared).Max(p => ((p.First - p.Second).norm() / p.First.norm()).item<float>());
}

List<Tensor> GradientsOf(nn.Module<Tensor, Tensor> model)
{
    model.zero_grad();
    nn.functional.cross_entropy(model.call(batch), labels).backward();
    return model.parameters().Select(p => p.grad!.clone()).ToList();
}

void Step(nn.Module<Tensor, Tensor> model, optim.Optimizer optimizer)
{
    using var scope = NewDisposeScope();
    optimizer.zero_grad();
    nn.functional.cross_entropy(model.call(batch), labels).backward();
    optimizer.step();
}

double Rate(nn.Module<Tensor, Tensor> model, optim.Optimizer optimizer)
{
    var watch = Stopwatch.StartNew();
    for (int i = 0; i < steps; i++) Step(model, optimizer);
    return steps * 128 / watch.Elapsed.TotalSeconds;
}

double PeerRate()
{
    string root = AppContext.BaseDirectory;
    while (!File.Exists(Path.Combine(root, "AssocConv.slnx")))
        root = Path.GetDirectoryName(root.TrimEnd('/')) ?? throw new InvalidOperationException("the repository root (AssocConv.slnx) is not above this program");
    var info = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, UseShellExecute = false, WorkingDirectory = root };
    foreach (var a in new[] { "bench/pytorch_peer.py", "--memory-format", "channels-last", "--inplace", "--threads", $"{threads}", "--repetitions", "3", "--steps", $"{steps}", "--json" })
        info.ArgumentList.Add(a);
    using var process = Process.Start(info) ?? throw new InvalidOperationException("python3 did not start");
    string json = process.StandardOutput.ReadToEnd();
    process.WaitForExit();
    if (process.ExitCode != 0) throw new InvalidOperationException($"bench/pytorch_peer.py failed ({process.ExitCode})");
    using var doc = JsonDocument.Parse(json);
    return doc.RootElement.GetProperty("train_images_per_s_plain").GetDouble();
}

static double Median(IEnumerable<double> values) => new Measurement(values.ToList()).Median;
