using AssocConv.Data;
using AssocConv.Tensors;
using BenchmarkDotNet.Attributes;
using TorchSharp;
using static TorchSharp.torch;

namespace AssocConv.Benchmarks;

/// <summary>
/// One 3x3 convolution of a CIFAR ResNet stage at batch 128, forward and both gradients, in each memory format:
/// where a training step's time goes. FLOPs per call: 3 x 2 x 128 x C x C x 9 x H x W (C channels, H x W pixels).
/// </summary>
[InProcess]
public class ConvolutionBenchmark
{
    /// <summary>The stage: 16 channels at 32x32, 32 at 16x16 or 64 at 8x8.</summary>
    [Params(16, 32, 64)]
    public int Channels { get; set; }

    /// <summary>The input's layout (the kernel stays contiguous, as generated).</summary>
    [Params(MemoryFormat.Contiguous, MemoryFormat.ChannelsLast)]
    public MemoryFormat Format { get; set; }

    private Tensor _input = null!, _kernel = null!;

    [GlobalSetup]
    public void Setup()
    {
        torch.set_num_threads(2);
        torch.manual_seed(1);
        long size = 32 * 16 / Channels;
        using var x = randn(128, Channels, size, size);
        _input = x.ToMemoryFormat(Format).requires_grad_(true);
        _kernel = randn(Channels, Channels, 3, 3).requires_grad_(true);
    }

    [Benchmark]
    public void ForwardAndBackward()
    {
        using var scope = NewDisposeScope();
        var y = nn.functional.conv2d(_input, _kernel, padding: new long[] { 1, 1 });
        y.backward(new[] { ones_like(y) });
        _input.grad!.zero_();
        _kernel.grad!.zero_();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _input.Dispose();
        _kernel.Dispose();
    }
}
