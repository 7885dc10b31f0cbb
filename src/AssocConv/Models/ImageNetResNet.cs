using AssocConv.Csg;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AssocConv.Models;

/// <summary>
/// ResNet-18/34/50 for ImageNet (torchvision's layout, 224x224 inputs, 1000 classes by default), as in
/// the reference implementation:
///
/// | layer   | output (224x224 input) | ResNet-18 / 34 (basic blocks)   | ResNet-50 (bottlenecks)                |
/// |---------|------------------------|---------------------------------|----------------------------------------|
/// | conv1   | 64 x 112 x 112         | 7x7, stride 2, ordinary         | 7x7, stride 2, ordinary                |
/// | maxpool | 64 x 56 x 56           | 3x3, stride 2                   | 3x3, stride 2                          |
/// | layer1  | 56 x 56                | [3x3, 64; 3x3, 64] x 2 / 3      | [1x1, 64; 3x3, 64; 1x1, 256] x 3       |
/// | layer2  | 28 x 28                | [3x3, 128; 3x3, 128] x 2 / 4    | [1x1, 128; 3x3, 128; 1x1, 512] x 4     |
/// | layer3  | 14 x 14                | [3x3, 256; 3x3, 256] x 2 / 6    | [1x1, 256; 3x3, 256; 1x1, 1024] x 6    |
/// | layer4  | 7 x 7                  | [3x3, 512; 3x3, 512] x 2 / 3    | [1x1, 512; 3x3, 512; 1x1, 2048] x 3    |
/// | avgpool, fc | classes            | global average, fully connected | global average, fully connected        |
///
/// Generated in the reference: ResNet-18 the first 3x3 of each block, ResNet-34 both, ResNet-50 each
/// bottleneck's 3x3. Shortcuts that change shape are a strided 1x1 conv and BN (<c>downsample.0</c>,
/// <c>downsample.1</c>). State-dict names follow the reference: <c>layerN.M.code1</c> / <c>code2</c>,
/// <c>bn1</c>, <c>fc</c>, <c>CSG.weight</c>.
/// ReLUs (and residual additions) write over the batch-norm output in place, as torchvision's do: batch-norm's
/// backward does not need it, and a pass through fresh memory is spared (docs/benchmarks.md).
/// </summary>
public sealed class ImageNetResNet : nn.Module<Tensor, Tensor>
{
    /// <summary>Default generator: 16x16x3x3 slices, code size 128; PyTorch's Linear init and standard-normal codes, as
    /// the reference.</summary>
    public static GeneratorOptions DefaultGenerator { get; } = new()
    {
        Slice = new SliceShape(16, 16),
        CodeSize = 128,
        Init = GeneratorInit.LinearDefault,
        CodeInit = CodeInit.StandardNormal,
    };

    /// <summary>The depths the zoo lists by name.</summary>
    public static IReadOnlyList<int> ListedDepths { get; } = new[] { 18, 34, 50 };

    /// <summary>What the reference generates at <paramref name="depth"/>, for listings.</summary>
    public static string GeneratedConvs(int depth) => depth switch
    {
        18 => "the first 3x3 of each block",
        34 => "both 3x3 of each block",
        _ => "each bottleneck's 3x3",
    };

    private static int[] BlocksPerStage(int depth) => depth switch
    {
        18 => [2, 2, 2, 2],
        34 or 50 => [3, 4, 6, 3],
        _ => throw new ArgumentException($"imagenet-resnet{depth}: depths 18, 34 and 50 are available"),
    };

    private ConvolutionalSliceGenerator? CSG;
    private nn.Module<Tensor, Tensor> conv1;   // writable: MixedPrecision swaps it
    private readonly BatchNorm2d bn1;
    private readonly Sequential layer1, layer2, layer3, layer4;
    private readonly Linear fc;

    /// <summary>Builds ImageNet ResNet-<paramref name="depth"/> (18, 34 or 50).</summary>
    public ImageNetResNet(int depth, ModelOptions options) : base($"imagenet-resnet{depth}")
    {
        var blocks = BlocksPerStage(depth);
        var b = new ConvolutionBuilder(GetName(), options, DefaultGenerator, defaultClasses: 1000);
        CSG = b.Generator;
        conv1 = ConvolutionBuilder.Ordinary(options.InputChannels, 64, 7, stride: 2, padding: 3);
        bn1 = nn.BatchNorm2d(64);
        bool bottleneck = depth == 50;
        long expansion = bottleneck ? 4 : 1;
        long inPlanes = 64;
        Sequential Stage(long planes, int count, long stride)
        {
            var list = new List<nn.Module<Tensor, Tensor>>();
            for (int i = 0; i < count; i++)
            {
                long s = i == 0 ? stride : 1;
                list.Add(bottleneck
                    ? new Bottleneck(b, inPlanes, planes, s)
                    : new BasicBlock(b, inPlanes, planes, s, generateSecond: depth == 34));
                inPlanes = planes * expansion;
            }
            return nn.Sequential(list);
        }
        layer1 = Stage(64, blocks[0], 1);
        layer2 = Stage(128, blocks[1], 2);
        layer3 = Stage(256, blocks[2], 2);
        layer4 = Stage(512, blocks[3], 2);
        fc = nn.Linear(512 * expansion, b.NumClasses);
        RegisterComponents();
        ReferenceInit.ImageNetResNet(this);
    }

    /// <summary>Class scores <c>[batch, classes]</c> for images <c>[batch, channels, height, width]</c>.</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        using var together = this.GenerateKernelsTogether(CSG);
        x = bn1.call(conv1.call(x)).relu_();
        x = nn.functional.max_pool2d(x, 3, 2, 1);
        x = layer4.call(layer3.call(layer2.call(layer1.call(x))));
        x = nn.functional.adaptive_avg_pool2d(x, 1).flatten(1);
        return fc.call(x).MoveToOuterDisposeScope();
    }

    private static Sequential? Downsample(ConvolutionBuilder b, long inPlanes, long outPlanes, long stride) =>
        stride == 1 && inPlanes == outPlanes
            ? null
            : nn.Sequential(b.Conv("downsample", inPlanes, outPlanes, 1, stride), nn.BatchNorm2d(outPlanes));

    /// <summary>3x3 - 3x3 with identity or projection shortcut.</summary>
    internal sealed class BasicBlock : nn.Module<Tensor, Tensor>
    {
        private nn.Module<Tensor, Tensor> conv1, conv2;   // writable: Materialize swaps them
        private Parameter? code1, code2;                  // the reference's names for their codes
        private readonly BatchNorm2d bn1, bn2;
        private readonly Sequential? downsample;

        public BasicBlock(ConvolutionBuilder b, long inPlanes, long planes, long stride,
            bool generateSecond) : base("BasicBlock")
        {
            conv1 = b.Conv("conv1", inPlanes, planes, 3, stride, padding: 1, generated: true);
            bn1 = nn.BatchNorm2d(planes);
            conv2 = b.Conv("conv2", planes, planes, 3, padding: 1, generated: generateSecond);
            bn2 = nn.BatchNorm2d(planes);
            downsample = Downsample(b, inPlanes, planes, stride);
            code1 = ConvolutionBuilder.HostCode(this, conv1, nameof(code1));
            if (generateSecond) code2 = ConvolutionBuilder.HostCode(this, conv2, nameof(code2));
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            using var scope = NewDisposeScope();
            var y = bn1.call(conv1.call(x)).relu_();
            y = bn2.call(conv2.call(y));
            var identity = downsample is null ? x : downsample.call(x);
            return y.add_(identity).relu_().MoveToOuterDisposeScope();
        }
    }

    /// <summary>1x1 - 3x3 (generated in the reference) - 1x1 (4x wider) with identity or projection shortcut.</summary>
    internal sealed class Bottleneck : nn.Module<Tensor, Tensor>
    {
        private nn.Module<Tensor, Tensor> conv1, conv2, conv3;
        private Parameter? code2;
        private readonly BatchNorm2d bn1, bn2, bn3;
        private readonly Sequential? downsample;

        public Bottleneck(ConvolutionBuilder b, long inPlanes, long planes, long stride) : base("Bottleneck")
        {
            conv1 = b.Conv("conv1", inPlanes, planes, 1);
            bn1 = nn.BatchNorm2d(planes);
            conv2 = b.Conv("conv2", planes, planes, 3, stride, padding: 1, generated: true);
            bn2 = nn.BatchNorm2d(planes);
            conv3 = b.Conv("conv3", planes, planes * 4, 1);
            bn3 = nn.BatchNorm2d(planes * 4);
            downsample = Downsample(b, inPlanes, planes * 4, stride);
            code2 = ConvolutionBuilder.HostCode(this, conv2, nameof(code2));
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            using var scope = NewDisposeScope();
            var y = bn1.call(conv1.call(x)).relu_();
            y = bn2.call(conv2.call(y)).relu_();
            y = bn3.call(conv3.call(y));
            var identity = downsample is null ? x : downsample.call(x);
            return y.add_(identity).relu_().MoveToOuterDisposeScope();
        }
    }
}
