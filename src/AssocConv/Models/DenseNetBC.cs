using AssocConv.Csg;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AssocConv.Models;

/// <summary>
/// DenseNet-BC for CIFAR (Huang et al. 2017), depth 6n+4 and growth rate k, compression 0.5, as in
/// the reference implementation:
///
/// | layer   | output (32x32 input)      | convolutions                                                   |
/// |---------|---------------------------|----------------------------------------------------------------|
/// | conv1   | 2k x 32 x 32              | 3x3, ordinary (the first conv always is)                       |
/// | dense1  | c1 = 2k + nk x 32 x 32    | n bottlenecks: BN-ReLU-1x1 (4k), BN-ReLU-3x3 (k, associative), output
/// cat([new, input]) |
/// | trans1  | floor(c1/2) x 16 x 16     | BN-ReLU-1x1, 2x2 average pooling                               |
/// | dense2  | c2 x 16 x 16              | n bottlenecks                                                  |
/// | trans2  | floor(c2/2) x 8 x 8       | BN-ReLU-1x1, 2x2 average pooling                               |
/// | dense3  | c3 x 8 x 8                | n bottlenecks                                                  |
/// | trans3  | c3                        | BN, ReLU, global average pooling (no convolution)              |
/// | linear  | classes                   | fully connected                                                |
///
/// State-dict names follow the reference: <c>dense1.0.bn1</c>, <c>dense1.0.conv1</c>, <c>dense1.0.bn2</c>,
/// <c>dense1.0.code2</c> (or <c>conv2</c> when plain), <c>trans1.bn</c>, <c>trans1.conv</c>, <c>linear</c>,
/// <c>CSG.weight</c>.
/// ReLUs write over the batch-norm output in place, as torchvision's do: batch-norm's backward does not need it,
/// and a pass through fresh memory is spared (docs/benchmarks.md).
/// </summary>
public sealed class DenseNetBC : nn.Module<Tensor, Tensor>
{
    /// <summary>Default generator: 12x12x3x3 slices, code size 72; PyTorch's Linear init and standard-normal codes, as
    /// the reference.</summary>
    public static GeneratorOptions DefaultGenerator { get; } = GeneratorOptions.Default with
    {
        Init = GeneratorInit.LinearDefault,
        CodeInit = CodeInit.StandardNormal,
    };

    /// <summary>The (depth, growth rate) pairs the zoo lists by name.</summary>
    public static IReadOnlyList<(int Depth, int Growth)> ListedConfigurations { get; } =
        new[] { (40, 12), (40, 36), (40, 48), (100, 12) };

    private ConvolutionalSliceGenerator? CSG;
    private nn.Module<Tensor, Tensor> conv1;   // writable: MixedPrecision swaps it
    private readonly Sequential dense1, dense2, dense3;
    private readonly Transition trans1, trans2, trans3;
    private readonly Linear linear;

    /// <summary>Builds DenseNet-BC-<paramref name="depth"/>-<paramref name="growth"/>.</summary>
    /// <exception cref="ArgumentException">The depth is not 6n+4 (n at least 1) or the growth rate is below
    /// 1.</exception>
    public DenseNetBC(int depth, int growth, ModelOptions options) : base($"densenet-bc-{depth}-{growth}")
    {
        if (depth < 10 || (depth - 4) % 6 != 0 || growth < 1)
            throw new ArgumentException($"{GetName()}: DenseNet-BC needs depth 6n+4 (40, 100, 190, ...) and a growth " +
                "rate of at least 1");
        int blocks = (depth - 4) / 6;
        var b = new ConvolutionBuilder(GetName(), options, DefaultGenerator);
        CSG = b.Generator;
        long planes = 2 * growth;
        conv1 = ConvolutionBuilder.Ordinary(options.InputChannels, planes, 3, padding: 1);
        dense1 = DenseBlock(b, ref planes, blocks, growth);
        trans1 = new Transition(b, planes, planes / 2);   // compression 0.5, rounded down
        planes /= 2;
        dense2 = DenseBlock(b, ref planes, blocks, growth);
        trans2 = new Transition(b, planes, planes / 2);
        planes /= 2;
        dense3 = DenseBlock(b, ref planes, blocks, growth);
        trans3 = new Transition(b, planes, null);
        linear = nn.Linear(planes, b.NumClasses);
        RegisterComponents();
    }

    private static Sequential DenseBlock(ConvolutionBuilder b, ref long planes, int blocks, long growth)
    {
        var layers = new List<nn.Module<Tensor, Tensor>>();
        for (int i = 0; i < blocks; i++)
        {
            layers.Add(new Bottleneck(b, planes, growth));
            planes += growth;
        }
        return nn.Sequential(layers);
    }

    /// <summary>Class scores <c>[batch, classes]</c> for images <c>[batch, channels, height, width]</c>.</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        using var together = this.GenerateKernelsTogether(CSG);
        x = conv1.call(x);
        x = trans1.call(dense1.call(x));
        x = trans2.call(dense2.call(x));
        x = trans3.call(dense3.call(x));
        return linear.call(x.flatten(1)).MoveToOuterDisposeScope();
    }

    /// <summary>BN-ReLU-1x1 conv (4k) then BN-ReLU-3x3 conv (k, generated in the reference); output cat([new,
    /// input]).</summary>
    internal sealed class Bottleneck : nn.Module<Tensor, Tensor>
    {
        private readonly BatchNorm2d bn1, bn2;
        private nn.Module<Tensor, Tensor> conv1, conv2;   // writable: Materialize swaps them
        private Parameter? code2;                         // the reference's name for conv2's codes

        public Bottleneck(ConvolutionBuilder b, long inPlanes, long growth) : base("Bottleneck")
        {
            bn1 = nn.BatchNorm2d(inPlanes);
            conv1 = b.Conv("conv1", inPlanes, 4 * growth, 1);
            bn2 = nn.BatchNorm2d(4 * growth);
            conv2 = b.Conv("conv2", 4 * growth, growth, 3, padding: 1, generated: true);
            code2 = ConvolutionBuilder.HostCode(this, conv2, nameof(code2));
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            using var scope = NewDisposeScope();
            var y = conv1.call(bn1.call(x).relu_());
            y = conv2.call(bn2.call(y).relu_());
            return torch.cat(new[] { y, x }, 1).MoveToOuterDisposeScope();
        }
    }

    /// <summary>BN-ReLU-1x1 conv and 2x2 average pooling; the last one (no output planes) is BN, ReLU and global
    /// pooling.</summary>
    internal sealed class Transition : nn.Module<Tensor, Tensor>
    {
        private readonly BatchNorm2d bn;
        private nn.Module<Tensor, Tensor>? conv;

        public Transition(ConvolutionBuilder b, long inPlanes, long? outPlanes) : base("Transition")
        {
            bn = nn.BatchNorm2d(inPlanes);
            if (outPlanes is { } o) conv = b.Conv("conv", inPlanes, o, 1);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            using var scope = NewDisposeScope();
            var y = bn.call(x).relu_();
            y = conv is null
                ? nn.functional.adaptive_avg_pool2d(y, 1)
                : nn.functional.avg_pool2d(conv.call(y), 2);
            return y.MoveToOuterDisposeScope();
        }
    }
}
