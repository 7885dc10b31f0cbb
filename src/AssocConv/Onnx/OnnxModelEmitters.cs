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
    };

    public static Emit? Find(nn.Module module) => ByType.GetValueOrDefault(module.GetType());

    // conv-bn-relu five times, global average pool, linear
    private static string SmallCnn(OnnxEmitter e, nn.Module m, string path, string x)
    {
        for (int i = 1; i <= 5; i++)
            x = e.Relu(e.EmitChild(m, path, $"bn{i}", e.EmitChild(m, path, $"conv{i}", x)));
        return e.EmitChild(m, path, "linear", e.PoolAndFlatten(x));
    }

    private static string CifarResNet(OnnxEmitter e, nn.Module m, string path, string x)
    {
        x = e.Relu(e.EmitChild(m, path, "bn_1", e.EmitChild(m, path, "conv_1_3x3", x)));
        foreach (var stage in new[] { "stage_1", "stage_2", "stage_3" }) x = e.EmitChild(m, path, stage, x);
        return e.EmitChild(m, path, "classifier", e.PoolAndFlatten(x));
    }

    // relu(bn_b(conv_b(relu(bn_a(conv_a(x))))) + shortcut(x))
    private static string ResNetBasicBlock(OnnxEmitter e, nn.Module m, string path, string x)
    {
        var y = e.Relu(e.EmitChild(m, path, "bn_a", e.EmitChild(m, path, "conv_a", x)));
        y = e.EmitChild(m, path, "bn_b", e.EmitChild(m, path, "conv_b", y));
        bool downsample = m.named_children().Any(c => c.name == "downsample");
        return e.Relu(e.Add(y, downsample ? e.EmitChild(m, path, "downsample", x) : x));
    }

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
}
