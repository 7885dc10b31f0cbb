using AssocConv.Csg;
using TorchSharp.Modules;
using TorchSharp;
using static TorchSharp.torch;

namespace AssocConv.Models;

/// <summary>
/// ResNet for CIFAR (He et al. 2016, section 4.2), depth 6n+2, as in the reference implementation:
///
/// | layer        | output (32x32 input) | convolutions                                            |
/// |--------------|----------------------|---------------------------------------------------------|
/// | conv_1_3x3   | 16 x 32 x 32         | 3x3, ordinary (the first conv always is)                |
/// | stage_1      | 16 x 32 x 32         | n basic blocks, both 3x3 associative                    |
/// | stage_2      | 32 x 16 x 16         | n basic blocks, the first with stride 2, both 3x3 associative |
/// | stage_3      | 64 x 8 x 8           | n basic blocks, the first with stride 2, both 3x3 associative |
/// | avgpool      | 64                   | global average                                          |
/// | classifier   | classes              | fully connected                                         |
///
/// Shortcuts are parameter-free (option A): stride-2 subsampling, then zero channels appended after
/// the input's. State-dict names follow the reference: <c>conv_1_3x3</c>, <c>bn_1</c>,
/// <c>stage_N.M.code</c> / <c>code2</c> (or <c>conv_a</c> / <c>conv_b</c> when plain), <c>bn_a</c>,
/// <c>bn_b</c>, <c>classifier</c>, <c>CSG.weight</c>.
/// ReLUs (and residual additions) write over the batch-norm output in place, as torchvision's do: batch-norm's
/// backward does not need it, and a pass through fresh memory is spared (docs/benchmarks.md).
/// </summary>
public sealed class CifarResNet : nn.Module<Tensor, Tensor>
{
    /// <summary>Default generator: 12x12x3x3 slices, code size 72, Kaiming-normal, codes normal(0.001, 1), as the
    /// reference.</summary>
    public static GeneratorOptions DefaultGenerator { get; } = GeneratorOptions.Default;

    /// <summary>The depths the zoo lists by name.</summary>
    public static IReadOnlyList<int> ListedDepths { get; } = new[] { 20, 32, 44, 56, 110 };

    /// <summary>Blocks per stage: (depth - 2) / 6.</summary>
    public int BlocksPerStage { get; }

    private ConvolutionalSliceGenerator? CSG;
    private nn.Module<Tensor, Tensor> conv_1_3x3;   // writable: MixedPrecision swaps it
    private readonly BatchNorm2d bn_1;
    private readonly Sequential stage_1, stage_2, stage_3;
    private readonly Linear classifier;

    /// <summary>Builds ResNet-<paramref name="depth"/>.</summary>
    /// <exception cref="ArgumentException">The depth is not 6n+2 with n at least 1.</exception>
    public CifarResNet(int depth, ModelOptions options) : base($"resnet{depth}")
    {
        if (depth < 8 || (depth - 2) % 6 != 0)
            throw new ArgumentException($"resnet{depth}: a CIFAR ResNet's depth is 6n+2 (20, 32, 44, 56, 110, 164, " +
                $"1202, ...), got {depth}");
        BlocksPerStage = (depth - 2) / 6;
        var b = new ConvolutionBuilder(GetName(), options, DefaultGenerator);
        CSG = b.Generator;
        conv_1_3x3 = ConvolutionBuilder.Ordinary(options.InputChannels, 16, 3, padding: 1);
        bn_1 = nn.BatchNorm2d(16);
        long channels = 16;
        stage_1 = Stage(b, ref channels, 16, 1);
        stage_2 = Stage(b, ref channels, 32, 2);
        stage_3 = Stage(b, ref channels, 64, 2);
        classifier = nn.Linear(64, b.NumClasses);
        RegisterComponents();
        ReferenceInit.CifarResNet(this);
    }

    private Sequential Stage(ConvolutionBuilder b, ref long channels, long planes, long stride)
    {
        var blocks = new List<nn.Module<Tensor, Tensor>>();
        for (int i = 0; i < BlocksPerStage; i++)
        {
            blocks.Add(new BasicBlock(b, channels, planes, i == 0 ? stride : 1));
            channels = planes;
        }
        return nn.Sequential(blocks);
    }

    /// <summary>Class scores <c>[batch, classes]</c> for images <c>[batch, channels, height, width]</c>.</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        using var together = this.GenerateKernelsTogether(CSG);
        x = bn_1.call(conv_1_3x3.call(x)).relu_();
        x = stage_3.call(stage_2.call(stage_1.call(x)));
        x = nn.functional.adaptive_avg_pool2d(x, 1).flatten(1);
        return classifier.call(x).MoveToOuterDisposeScope();
    }

    /// <summary>conv-bn-relu-conv-bn plus shortcut, then relu; both 3x3 convolutions are generated in the
    /// reference.</summary>
    internal sealed class BasicBlock : nn.Module<Tensor, Tensor>
    {
        private nn.Module<Tensor, Tensor> conv_a, conv_b;   // writable: Materialize swaps them
        private Parameter? code, code2;                     // the reference's names for the codes of conv_a and conv_b
        private readonly BatchNorm2d bn_a, bn_b;
        private readonly ZeroPadShortcut? downsample;

        public BasicBlock(ConvolutionBuilder b, long inPlanes, long planes, long stride) : base("ResNetBasicblock")
        {
            conv_a = b.Conv("conv_a", inPlanes, planes, 3, stride, padding: 1, generated: true);
            bn_a = nn.BatchNorm2d(planes);
            conv_b = b.Conv("conv_b", planes, planes, 3, padding: 1, generated: true);
            bn_b = nn.BatchNorm2d(planes);
            if (stride != 1 || inPlanes != planes) downsample = new ZeroPadShortcut(inPlanes, planes, stride);
            code = ConvolutionBuilder.HostCode(this, conv_a, nameof(code));
            code2 = ConvolutionBuilder.HostCode(this, conv_b, nameof(code2));
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            using var scope = NewDisposeScope();
            var y = bn_a.call(conv_a.call(x)).relu_();
            y = bn_b.call(conv_b.call(y));
            var residual = downsample is null ? x : downsample.call(x);
            return y.add_(residual).relu_().MoveToOuterDisposeScope();
        }
    }
}

/// <summary>
/// The parameter-free "option A" shortcut: keeps every <c>stride</c>-th row and column, then appends
/// zero channels after the input's up to <c>outChannels</c>.
/// </summary>
public sealed class ZeroPadShortcut : nn.Module<Tensor, Tensor>
{
    private readonly long _inChannels, _outChannels, _stride;

    /// <summary>Channels in and out (the added ones are zeros) and the subsampling step.</summary>
    public (long In, long Out, long Stride) Shape => (_inChannels, _outChannels, _stride);

    /// <summary>Creates the shortcut.</summary>
    /// <exception cref="ArgumentException">Fewer output than input channels, or a stride below 1.</exception>
    public ZeroPadShortcut(long inChannels, long outChannels, long stride) : base("DownsampleA")
    {
        if (outChannels < inChannels || stride < 1)
            throw new ArgumentException($"zero-padding shortcut {inChannels}->{outChannels}, stride {stride}: needs " +
                "out >= in and stride >= 1");
        (_inChannels, _outChannels, _stride) = (inChannels, outChannels, stride);
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var sub = _stride == 1 ? x : x[TensorIndex.Colon, TensorIndex.Colon, TensorIndex.Slice(null, null, _stride),
            TensorIndex.Slice(null, null, _stride)];
        if (_outChannels == _inChannels) return sub.alias().MoveToOuterDisposeScope();
        // pad rather than cat with new zeros: pad keeps the input's memory format (channels-last stays so)
        return nn.functional.pad(sub,
            new long[] { 0, 0, 0, 0, 0, _outChannels - _inChannels }).MoveToOuterDisposeScope();
    }
}
