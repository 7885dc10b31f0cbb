using AssocConv.Models;
using AssocConv.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace AssocConv.Benchmarking;

/// <summary>
/// A zoo model's plain and associative variants, built alike (same seed, the data's input shape and classes),
/// each with the reference's SGD optimiser, and one training step on a fixed batch: what the benchmarks time.
/// </summary>
internal sealed class ModelPair : IDisposable
{
    public ModelEntry Entry { get; }
    public ModelOptions Options { get; }
    public long Channels { get; }
    public long Height { get; }
    public long Width { get; }
    public nn.Module<Tensor, Tensor> Plain { get; }
    public nn.Module<Tensor, Tensor> Associative { get; }
    private readonly optim.Optimizer _plainOptimizer, _associativeOptimizer;
    private readonly Tensor _labels;

    public ModelPair(string model, BenchmarkOptions o)
    {
        Entry = ModelZoo.Get(model);
        Channels = o.Data?.Train.Channels ?? 3;
        Height = o.Data?.Train.Height ?? 32;
        Width = o.Data?.Train.Width ?? 32;
        int classes = o.Data?.NumClasses ?? 10;
        Options = new ModelOptions { InputChannels = (int)Channels, NumClasses = classes };
        torch.manual_seed(1);
        Plain = Entry.Build(Options with { Plain = true });
        Associative = Entry.Build(Options);
        ConvolutionGuard.Protect(Plain);
        ConvolutionGuard.Protect(Associative);
        Plain.train();
        Associative.train();
        _plainOptimizer = optim.SGD(Plain.parameters(), 0.01, momentum: 0.9, weight_decay: 5e-4);
        _associativeOptimizer = optim.SGD(Associative.parameters(), 0.01, momentum: 0.9, weight_decay: 5e-4);
        _labels = randint(0, classes, new long[] { o.BatchSize });
    }

    /// <summary>One SGD step of the plain model on <paramref name="x"/>.</summary>
    public void TrainPlain(Tensor x) => Step(Plain, _plainOptimizer, x);

    /// <summary>One SGD step of the associative model on <paramref name="x"/>.</summary>
    public void TrainAssociative(Tensor x) => Step(Associative, _associativeOptimizer, x);

    /// <summary>Clears the associative model's gradients (after timing its kernel generation by hand).</summary>
    public void ZeroAssociativeGradients() => _associativeOptimizer.zero_grad();

    private void Step(nn.Module<Tensor, Tensor> m, optim.Optimizer o, Tensor x)
    {
        using var scope = NewDisposeScope();
        o.zero_grad();
        nn.functional.cross_entropy(m.call(x), _labels).backward();
        o.step();
    }

    public void Dispose()
    {
        _plainOptimizer.Dispose();
        _associativeOptimizer.Dispose();
        _labels.Dispose();
        Plain.Dispose();
        Associative.Dispose();
    }
}
