using AssocConv.Csg;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AssocConv.Models;

/// <summary>
/// ShuffleNetV2 (Ma et al. 2018), net size 0.5, in its CIFAR form (no max pooling), as in the
/// reference implementation:
///
/// | layer        | output (32x32 input) | blocks                    | convolutions                                   |
/// |--------------|----------------------|---------------------------|------------------------------------------------|
/// | conv1        | 24 x 32 x 32         |                           | 3x3, ordinary (the first conv always is)       |
/// | layer1       | 48 x 16 x 16         | 1 down-sampling + 3 basic | 1x1 and 3x3 depthwise, ordinary                |
/// | layer2       | 96 x 8 x 8           | 1 down-sampling + 7 basic |                                                |
/// | layer3       | 192 x 4 x 4          | 1 down-sampling + 3 basic |                                                |
/// | conv2        | 1024 x 4 x 4         |                           | 1x1, associative                               |
/// | pool, linear | classes              |                           | global average, fully connected                |
///
/// A basic block splits the channels in half, transforms one half (1x1, 3x3 depthwise, 1x1), concatenates
/// [kept, transformed] and shuffles the channels in two groups. State-dict names follow the reference:
/// <c>code2</c> (or <c>conv2</c> when plain), <c>bn2</c>, <c>layer1.0.conv1</c>, <c>linear</c>, <c>CSG.weight</c>.
/// ReLUs write over the batch-norm output in place, as torchvision's do: batch-norm's backward does not need it,
/// and a pass through fresh memory is spared (docs/benchmarks.md).
/// </summary>
public sealed class ShuffleNetV2 : nn.Module<Tensor, Tensor>
{
    /// <summary>Registry name.</summary>
    public const string Name = "shufflenetv2";

    /// <summary>Default generator: 16x16x1x1 slices, code size 16; PyTorch's Linear init and standard-normal codes, as
    /// the reference.</summary>
    public static GeneratorOptions DefaultGenerator => MobileNetV2.DefaultGenerator;

    private static readonly int[] StageChannels = [48, 96, 192];
    private static readonly int[] StageBlocks = [3, 7, 3];
    private const int FinalChannels = 1024;

    private ConvolutionalSliceGenerator? CSG;
    private nn.Module<Tensor, Tensor> conv1;   // writable: MixedPrecision swaps it
    private readonly BatchNorm2d bn1, bn2;
    private readonly Sequential layer1, layer2, layer3;
    private nn.Module<Tensor, Tensor> conv2;   // writable: Materialize swaps it
    private Parameter? code2;                  // the reference's name for conv2's codes
    private readonly Linear linear;

    /// <summary>Builds the model.</summary>
    public ShuffleNetV2(ModelOptions options) : base(Name)
    {
        var b = new ConvolutionBuilder(Name, options, DefaultGenerator);
        CSG = b.Generator;
        conv1 = ConvolutionBuilder.Ordinary(options.InputChannels, 24, 3, padding: 1);
        bn1 = nn.BatchNorm2d(24);
        long channels = 24;
        layer1 = Stage(b, ref channels, StageChannels[0], StageBlocks[0]);
        layer2 = Stage(b, ref channels, StageChannels[1], StageBlocks[1]);
        layer3 = Stage(b, ref channels, StageChannels[2], StageBlocks[2]);
        conv2 = b.Conv("conv2", channels, FinalChannels, 1, generated: true);
        bn2 = nn.BatchNorm2d(FinalChannels);
        code2 = ConvolutionBuilder.HostCode(this, conv2, nameof(code2));
        linear = nn.Linear(FinalChannels, b.NumClasses);
        RegisterComponents();
    }

    private static Sequential Stage(ConvolutionBuilder b, ref long channels, long outChannels, int blocks)
    {
        var list = new List<nn.Module<Tensor, Tensor>> { new DownBlock(b, channels, outChannels) };
        for (int i = 0; i < blocks; i++) list.Add(new BasicBlock(b, outChannels));
        channels = outChannels;
        return nn.Sequential(list);
    }

    /// <summary>Class scores <c>[batch, classes]</c> for images <c>[batch, channels, height, width]</c>.</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        x = bn1.call(conv1.call(x)).relu_();
        x = layer3.call(layer2.call(layer1.call(x)));
        x = bn2.call(conv2.call(x)).relu_();
        x = nn.functional.adaptive_avg_pool2d(x, 1).flatten(1);
        return linear.call(x).MoveToOuterDisposeScope();
    }

    /// <summary>[N, C, H, W] viewed as [N, 2, C/2, H, W], the two groups interleaved.</summary>
    private static Tensor Shuffle(Tensor x)
    {
        long n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3];
        return x.view(n, 2, c / 2, h, w).permute(0, 2, 1, 3, 4).reshape(n, c, h, w);
    }

    /// <summary>Keeps half the channels, transforms the other half (1x1, 3x3 depthwise, 1x1), concatenates and
    /// shuffles.</summary>
    internal sealed class BasicBlock : nn.Module<Tensor, Tensor>
    {
        private readonly long _kept;

        /// <summary>Channels passed on untouched (the first half).</summary>
        public long Kept => _kept;
        private nn.Module<Tensor, Tensor> conv1, conv2, conv3;
        private readonly BatchNorm2d bn1, bn2, bn3;

        public BasicBlock(ConvolutionBuilder b, long channels) : base("BasicBlock")
        {
            _kept = channels / 2;
            long c = channels / 2;
            conv1 = b.Conv("conv1", c, c, 1);
            bn1 = nn.BatchNorm2d(c);
            conv2 = b.Conv("conv2", c, c, 3, padding: 1, groups: c);
            bn2 = nn.BatchNorm2d(c);
            conv3 = b.Conv("conv3", c, c, 1);
            bn3 = nn.BatchNorm2d(c);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            using var scope = NewDisposeScope();
            var kept = x.narrow(1, 0, _kept);
            var rest = x.narrow(1, _kept, x.shape[1] - _kept);
            var y = bn1.call(conv1.call(rest)).relu_();
            y = bn2.call(conv2.call(y));
            y = bn3.call(conv3.call(y)).relu_();
            return Shuffle(torch.cat(new[] { kept, y }, 1)).MoveToOuterDisposeScope();
        }
    }

    /// <summary>Two stride-2 branches (3x3 depthwise then 1x1; 1x1, 3x3 depthwise, 1x1), concatenated and
    /// shuffled.</summary>
    internal sealed class DownBlock : nn.Module<Tensor, Tensor>
    {
        private nn.Module<Tensor, Tensor> conv1, conv2, conv3, conv4, conv5;
        private readonly BatchNorm2d bn1, bn2, bn3, bn4, bn5;

        public DownBlock(ConvolutionBuilder b, long inChannels, long outChannels) : base("DownBlock")
        {
            long mid = outChannels / 2;
            conv1 = b.Conv("conv1", inChannels, inChannels, 3, 2, padding: 1, groups: inChannels);
            bn1 = nn.BatchNorm2d(inChannels);
            conv2 = b.Conv("conv2", inChannels, mid, 1);
            bn2 = nn.BatchNorm2d(mid);
            conv3 = b.Conv("conv3", inChannels, mid, 1);
            bn3 = nn.BatchNorm2d(mid);
            conv4 = b.Conv("conv4", mid, mid, 3, 2, padding: 1, groups: mid);
            bn4 = nn.BatchNorm2d(mid);
            conv5 = b.Conv("conv5", mid, mid, 1);
            bn5 = nn.BatchNorm2d(mid);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            using var scope = NewDisposeScope();
            var left = bn1.call(conv1.call(x));
            left = bn2.call(conv2.call(left)).relu_();
            var right = bn3.call(conv3.call(x)).relu_();
            right = bn4.call(conv4.call(right));
            right = bn5.call(conv5.call(right)).relu_();
            return Shuffle(torch.cat(new[] { left, right }, 1)).MoveToOuterDisposeScope();
        }
    }
}
