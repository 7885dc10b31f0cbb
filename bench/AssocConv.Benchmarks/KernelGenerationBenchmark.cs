using AssocConv.Csg;
using AssocConv.Models;
using BenchmarkDotNet.Attributes;
using TorchSharp;
using static TorchSharp.torch;

namespace AssocConv.Benchmarks;

/// <summary>
/// Generating (forward and backward) every kernel of an associative ResNet-56 for one training step: one small
/// multiply per layer, as the reference does, against one multiply for all layers (<c>GenerateTogether</c>).
/// </summary>
// in-process: a generated child project would lack the libtorch native files (and the GLIBCXX patch)
[InProcess]
[MemoryDiagnoser]
public class KernelGenerationBenchmark
{
    private nn.Module<Tensor, Tensor> _model = null!;
    private List<AssociativeConv2d> _layers = null!;

    [GlobalSetup]
    public void Setup()
    {
        torch.set_num_threads(2);
        torch.manual_seed(1);
        _model = ModelZoo.Create("resnet56");
        _layers = _model.modules().OfType<AssociativeConv2d>().ToList();
    }

    [Benchmark(Baseline = true)]
    public void PerLayer() => Generate(together: false);

    [Benchmark]
    public void Together() => Generate(together: true);

    private void Generate(bool together)
    {
        using var scope = NewDisposeScope();
        using var batch = together ? _layers[0].Generator.GenerateTogether(_layers) : null;
        var total = _layers.Select(l => l.GenerateKernel().sum()).Aggregate((a, b) => a + b);
        total.backward();
        foreach (var p in _model.parameters()) p.grad?.zero_();
    }
}
