using AssocConv.Models;
using static TorchSharp.torch;

namespace AssocConv.Onnx;

/// <summary>
/// The zoo's models and blocks as ONNX nodes, each method a transcription of the type's forward pass (ReLUs,
/// additions and pooling are not modules there); the tests compare ONNX Runtime's outputs with ours for every model.
/// </summary>
internal static class OnnxModelEmitters
{
    public delegate string Emit(OnnxEmitter e, nn.Module module, string path, string input);

    private static readonly Dictionary<Type, Emit> ByType = new()
    {
        [typeof(SmallCnn)] = SmallCnn,
        [typeof(CifarResNet)] = CifarResNet,
        [typeof(CifarResNet.BasicBlock)] = ResNetBasicBlock,
        [typeof(ZeroPadShortcut)] = ZeroPadShortcut,
        [typeof(DenseNetBC)] = DenseNet,
        [typeof(DenseNetBC.Bottleneck)] = DenseNetBottleneck,
        [typeof(DenseNetBC.Transition)] = DenseNetTransition,
        [typeof(MobileNetV2)] = MobileNetV2,
        [typeof(MobileNetV2.Block)] = MobileNetBlock,
        [typeof(ShuffleNetV2)] = ShuffleNetV2,
        [typeof(ShuffleNetV2.BasicBlock)] = ShuffleNetBasicBlock,
        [typeof(ShuffleNetV2.DownBlock)] = ShuffleNetDownBlock,
        [typeof(ImageNetResNet)] = ImageNetResNet,
        [typeof(ImageNetResNet.BasicBlock)] = ImageNetBasicBlock,
        [typeof(ImageNetResNet.Bottleneck)] = ImageNetBottleneck,
    };

    public static Emit? Find(nn.Module module) => ByType.GetValueOrDefault(module.GetType());

    // conv-bn-relu five times, global average pool, linear
    private static string SmallCnn(OnnxEmitter e, nn.Module m, string path, string x)
    {
        for (int i = 1; i <= 5; i++)
            x = e.Relu(ConvBn(e, m, path, $"conv{i}", $"bn{i}", x));
        return e.EmitChild(m, path, "linear", e.PoolAndFlatten(x));
    }

    private static string CifarResNet(OnnxEmitter e, nn.Module m, string path, string x)
    {
        x = e.Relu(ConvBn(e, m, path, "conv_1_3x3", "bn_1", x));
        foreach (var stage in new[] { "stage_1", "stage_2", "stage_3" }) x = e.EmitChild(m, path, stage, x);
        return e.EmitChild(m, path, "classifier", e.PoolAndFlatten(x));
    }

    // relu(bn_b(conv_b(relu(bn_a(conv_a(x))))) + shortcut(x))
    private static string ResNetBasicBlock(OnnxEmitter e, nn.Module m, string path, string x) =>
        BasicBlock(e, m, path, x, ("conv_a", "bn_a"), ("conv_b", "bn_b"));

    // the same block in torchvision's names
    private static string ImageNetBasicBlock(OnnxEmitter e, nn.Module m, string path, string x) =>
        BasicBlock(e, m, path, x, ("conv1", "bn1"), ("conv2", "bn2"));

    private static string BasicBlock(OnnxEmitter e, nn.Module m, string path, string x, (string Conv, string Bn) first,
        (string Conv, string Bn) second)
    {
        var y = e.Relu(ConvBn(e, m, path, first.Conv, first.Bn, x));
        y = ConvBn(e, m, path, second.Conv, second.Bn, y);
        return e.Relu(e.Add(y, Has(m, "downsample") ? e.EmitChild(m, path, "downsample", x) : x));
    }

    private static string ConvBn(OnnxEmitter e, nn.Module m, string path, string conv, string bn, string x) =>
        e.EmitChild(m, path, bn, e.EmitChild(m, path, conv, x));

    // every stride-th row and column, then zero channels appended
    private static string ZeroPadShortcut(OnnxEmitter e, nn.Module m, string path, string x)
    {
        var (inChannels, outChannels, stride) = ((ZeroPadShortcut)m).Shape;
        var g = e.Graph;
        if (stride != 1)
            x = g.Node("Slice", "subsampled",
                [x, g.Int64s("starts", 0, 0), g.Int64s("ends", long.MaxValue, long.MaxValue),
                g.Int64s("axes", 2, 3), g.Int64s("steps", stride, stride)]);
        if (outChannels == inChannels) return x;
        return g.Node("Pad", "padded", [x, g.Int64s("pads", 0, 0, 0, 0, 0, outChannels - inChannels, 0, 0)]);
    }

    private static bool Has(nn.Module m, string child) => m.named_children().Any(c => c.name == child);

    // conv1, three dense blocks each followed by a transition (the last one pools globally), linear
    private static string DenseNet(OnnxEmitter e, nn.Module m, string path, string x)
    {
        x = e.EmitChild(m, path, "conv1", x);
        for (int i = 1; i <= 3; i++) x = e.EmitChild(m, path, $"trans{i}", e.EmitChild(m, path, $"dense{i}", x));
        x = e.Graph.Node("Flatten", "flatten", [x], ("axis", 1L));
        return e.EmitChild(m, path, "linear", x);
    }

    // cat([conv2(relu(bn2(conv1(relu(bn1(x)))))), x]) along the channels
    private static string DenseNetBottleneck(OnnxEmitter e, nn.Module m, string path, string x)
    {
        var y = e.EmitChild(m, path, "conv1", e.Relu(e.EmitChild(m, path, "bn1", x)));
        y = e.EmitChild(m, path, "conv2", e.Relu(e.EmitChild(m, path, "bn2", y)));
        return e.Graph.Node("Concat", "cat", [y, x], ("axis", 1L));
    }

    // relu(bn(x)), then a 1x1 convolution and 2x2 average pooling, or (the last) global average pooling
    private static string DenseNetTransition(OnnxEmitter e, nn.Module m, string path, string x)
    {
        var y = e.Relu(e.EmitChild(m, path, "bn", x));
        if (!Has(m, "conv")) return e.Graph.Node("GlobalAveragePool", "pool", [y]);
        return e.Graph.Node("AveragePool", "pool", [e.EmitChild(m, path, "conv", y)],
            ("kernel_shape", new long[] { 2, 2 }), ("strides", new long[] { 2, 2 }));
    }

    private static string MobileNetV2(OnnxEmitter e, nn.Module m, string path, string x)
    {
        x = e.Relu(ConvBn(e, m, path, "conv1", "bn1", x));
        x = e.EmitChild(m, path, "layers", x);
        x = e.Relu(ConvBn(e, m, path, "conv2", "bn2", x));
        return e.EmitChild(m, path, "linear", e.PoolAndFlatten(x));
    }

    // expand (1x1), depthwise 3x3, project (1x1); stride-1 blocks add the input (or its 1x1 projection)
    private static string MobileNetBlock(OnnxEmitter e, nn.Module m, string path, string x)
    {
        var y = e.Relu(ConvBn(e, m, path, "conv1", "bn1", x));
        y = e.Relu(ConvBn(e, m, path, "conv2", "bn2", y));
        y = ConvBn(e, m, path, "conv3", "bn3", y);
        if (((MobileNetV2.Block)m).Stride != 1) return y;
        return e.Add(y, Has(m, "shortcut") ? e.EmitChild(m, path, "shortcut", x) : x);
    }

    private static string ShuffleNetV2(OnnxEmitter e, nn.Module m, string path, string x)
    {
        x = e.Relu(ConvBn(e, m, path, "conv1", "bn1", x));
        foreach (var layer in new[] { "layer1", "layer2", "layer3" }) x = e.EmitChild(m, path, layer, x);
        x = e.Relu(ConvBn(e, m, path, "conv2", "bn2", x));
        return e.EmitChild(m, path, "linear", e.PoolAndFlatten(x));
    }

    // the first half kept, the second transformed (1x1, depthwise 3x3, 1x1), concatenated, shuffled
    private static string ShuffleNetBasicBlock(OnnxEmitter e, nn.Module m, string path, string x)
    {
        var g = e.Graph;
        long kept = ((ShuffleNetV2.BasicBlock)m).Kept, channels = kept + Channels(e, m, path, "bn3");
        var left = g.Node("Slice", "kept", [x, g.Int64s("starts", 0), g.Int64s("ends", kept), g.Int64s("axes", 1)]);
        var right = g.Node("Slice", "rest", [x, g.Int64s("starts", kept), g.Int64s("ends", long.MaxValue),
            g.Int64s("axes", 1)]);
        var y = e.Relu(ConvBn(e, m, path, "conv1", "bn1", right));
        y = ConvBn(e, m, path, "conv2", "bn2", y);
        y = e.Relu(ConvBn(e, m, path, "conv3", "bn3", y));
        return Shuffle(e, g.Node("Concat", "cat", [left, y], ("axis", 1L)), channels);
    }

    // two strided branches over the whole input, concatenated, shuffled
    private static string ShuffleNetDownBlock(OnnxEmitter e, nn.Module m, string path, string x)
    {
        var left = ConvBn(e, m, path, "conv1", "bn1", x);
        left = e.Relu(ConvBn(e, m, path, "conv2", "bn2", left));
        var right = e.Relu(ConvBn(e, m, path, "conv3", "bn3", x));
        right = ConvBn(e, m, path, "conv4", "bn4", right);
        right = e.Relu(ConvBn(e, m, path, "conv5", "bn5", right));
        long channels = Channels(e, m, path, "bn2") + Channels(e, m, path, "bn5");
        return Shuffle(e, e.Graph.Node("Concat", "cat", [left, right], ("axis", 1L)), channels);
    }

    private static long Channels(OnnxEmitter e, nn.Module m, string path, string batchNorm) =>
        ((TorchSharp.Modules.BatchNorm2d)e.Child(m, path, batchNorm)).running_mean!.shape[0];

    // the channel shuffle in two groups, view(n, 2, c/2, h, w).permute(0, 2, 1, 3, 4): output channel j is input
    // channel (j % 2) * c/2 + j / 2, a gather that needs no spatial size (the batch stays dynamic)
    private static string Shuffle(OnnxEmitter e, string x, long channels)
    {
        var order = Enumerable.Range(0, (int)channels).Select(j => j % 2 * (channels / 2) + j / 2).ToArray();
        return e.Graph.Node("Gather", "shuffled", [x, e.Graph.Int64s("shuffle", order)], ("axis", 1L));
    }

    // conv 7x7/2, max pool 3x3/2, four stages, global average pool, fc
    private static string ImageNetResNet(OnnxEmitter e, nn.Module m, string path, string x)
    {
        x = e.Relu(ConvBn(e, m, path, "conv1", "bn1", x));
        x = e.Graph.Node("MaxPool", "pool", [x], ("kernel_shape", new long[] { 3, 3 }),
            ("strides", new long[] { 2, 2 }), ("pads", new long[] { 1, 1, 1, 1 }));
        foreach (var layer in new[] { "layer1", "layer2", "layer3", "layer4" }) x = e.EmitChild(m, path, layer, x);
        return e.EmitChild(m, path, "fc", e.PoolAndFlatten(x));
    }

    private static string ImageNetBottleneck(OnnxEmitter e, nn.Module m, string path, string x)
    {
        var y = e.Relu(ConvBn(e, m, path, "conv1", "bn1", x));
        y = e.Relu(ConvBn(e, m, path, "conv2", "bn2", y));
        y = ConvBn(e, m, path, "conv3", "bn3", y);
        return e.Relu(e.Add(y, Has(m, "downsample") ? e.EmitChild(m, path, "downsample", x) : x));
    }
}
