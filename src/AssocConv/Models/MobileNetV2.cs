using AssocConv.Csg;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AssocConv.Models;

/// <summary>
/// MobileNetV2 (Sandler et al. 2018) in its CIFAR form (stride 1 in the first conv and the second
/// stage), as in the reference implementation:
///
/// | layer   | expansion | output channels | blocks | first stride | convolutions                              |
/// |---------|-----------|-----------------|--------|--------------|-------------------------------------------|
/// | conv1   |           | 32              |        | 1            | 3x3, ordinary (the first conv always is)  |
/// | layers  | 1         | 16              | 1      | 1            | each block: 1x1 expansion (associative), 3x3
/// depthwise, 1x1 projection |
/// |         | 6         | 24              | 2      | 1            |                                           |
/// |         | 6         | 32              | 3      | 2            |                                           |
/// |         | 6         | 64              | 4      | 2            |                                           |
/// |         | 6         | 96              | 3      | 1            |                                           |
/// |         | 6         | 160             | 3      | 2            |                                           |
/// |         | 6         | 320             | 1      | 1            |                                           |
/// | conv2   |           | 1280            |        | 1            | 1x1                                       |
/// | pool, linear |      | classes         |        |              | global average, fully connected           |
///
/// Stride-1 blocks add a shortcut (a 1x1 conv and BN when the channel count changes). State-dict
/// names follow the reference: <c>layers.N.code1</c> (or <c>conv1</c> when plain), <c>layers.N.bn1</c>,
/// <c>conv2</c>, <c>conv3</c>, <c>shortcut.0</c>, <c>linear</c>, <c>CSG.weight</c>.
/// ReLUs (and residual additions) write over the batch-norm output in place, as torchvision's do: batch-norm's
/// backward does not need it, and a pass through fresh memory is spared (docs/benchmarks.md).
/// </summary>
public sealed class MobileNetV2 : nn.Module<Tensor, Tensor>
{
    /// <summary>Registry name.</summary>
    public const string Name = "mobilenetv2";

    /// <summary>Default generator: 16x16x1x1 slices, code size 16; PyTorch's Linear init and standard-normal codes, as
    /// the reference.</summary>
    public static GeneratorOptions DefaultGenerator { get; } = new()
    {
        Slice = new SliceShape(16, 16, 1, 1),
        CodeSize = 16,
        Init = GeneratorInit.LinearDefault,
        CodeInit = CodeInit.StandardNormal,
    };

    private static readonly (int Expansion, int OutPlanes, int Blocks, int Stride)[] Configuration =
    [
        (1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
    ];

    private ConvolutionalSliceGenerator? CSG;
    private nn.Module<Tensor, Tensor> conv1;   // writable: MixedPrecision swaps it
    private readonly BatchNorm2d bn1, bn2;
    private readonly Sequential layers;
    private nn.Module<Tensor, Tensor> conv2;
    private readonly Linear linear;

    /// <summary>Builds the model.</summary>
    public MobileNetV2(ModelOptions options) : base(Name)
    {
        var b = new ConvolutionBuilder(Name, options, DefaultGenerator);
        CSG = b.Generator;
        conv1 = ConvolutionBuilder.Ordinary(options.InputChannels, 32, 3, padding: 1);
        bn1 = nn.BatchNorm2d(32);
        var blocks = new List<nn.Module<Tensor, Tensor>>();
        long inPlanes = 32;
        foreach (var (expansion, outPlanes, count, stride) in Configuration)
        {
            for (int i = 0; i < count; i++)
            {
                blocks.Add(new Block(b, inPlanes, outPlanes, expansion, i == 0 ? stride : 1));
                inPlanes = outPlanes;
            }
        }
        layers = nn.Sequential(blocks);
        conv2 = b.Conv("conv2", 320, 1280, 1);
        bn2 = nn.BatchNorm2d(1280);
        linear = nn.Linear(1280, b.NumClasses);
        RegisterComponents();
    }

    /// <summary>Class scores <c>[batch, classes]</c> for images <c>[batch, channels, height, width]</c>.</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        using var together = this.GenerateKernelsTogether(CSG);
        x = bn1.call(conv1.call(x)).relu_();
        x = layers.call(x);
        x = bn2.call(conv2.call(x)).relu_();
        x = nn.functional.adaptive_avg_pool2d(x, 1).flatten(1);
        return linear.call(x).MoveToOuterDisposeScope();
    }

    /// <summary>1x1 expansion (generated in the reference), 3x3 depthwise, 1x1 linear projection, shortcut at stride
    /// 1.</summary>
    internal sealed class Block : nn.Module<Tensor, Tensor>
    {
        private readonly long _stride;

        /// <summary>The depthwise convolution's stride; only stride-1 blocks add their input back.</summary>
        public long Stride => _stride;
        private nn.Module<Tensor, Tensor> conv1, conv2, conv3;   // writable: Materialize swaps them
        private Parameter? code1;                                // the reference's name for conv1's codes
        private readonly BatchNorm2d bn1, bn2, bn3;
        private readonly Sequential? shortcut;

        public Block(ConvolutionBuilder b, long inPlanes, long outPlanes, long expansion, long stride) : base("Block")
        {
            _stride = stride;
            long planes = expansion * inPlanes;
            conv1 = b.Conv("conv1", inPlanes, planes, 1, generated: true);
            bn1 = nn.BatchNorm2d(planes);
            conv2 = b.Conv("conv2", planes, planes, 3, stride, padding: 1, groups: planes);
            bn2 = nn.BatchNorm2d(planes);
            conv3 = b.Conv("conv3", planes, outPlanes, 1);
            bn3 = nn.BatchNorm2d(outPlanes);
            if (stride == 1 && inPlanes != outPlanes)
                shortcut = nn.Sequential(b.Conv("shortcut", inPlanes, outPlanes, 1), nn.BatchNorm2d(outPlanes));
            code1 = ConvolutionBuilder.HostCode(this, conv1, nameof(code1));
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            using var scope = NewDisposeScope();
            var y = bn1.call(conv1.call(x)).relu_();
            y = bn2.call(conv2.call(y)).relu_();
            y = bn3.call(conv3.call(y));
            if (_stride == 1) y = y.add_(shortcut is null ? x : shortcut.call(x));
            return y.MoveToOuterDisposeScope();
        }
    }
}
