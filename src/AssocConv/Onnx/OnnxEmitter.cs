using System.Runtime.CompilerServices;
using AssocConv.Csg;
using AssocConv.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AssocConv.Onnx;

/// <summary>
/// Writes modules as ONNX nodes: the layers every model shares here (convolutions, associative ones in either
/// <see cref="OnnxForm"/>, batch-norm, linear, ReLU, sequences), and the zoo's model and block types through
/// <see cref="OnnxModelEmitters"/>, which mirror their forward passes. A module of any other type is refused with
/// its path; so is a registered module that the graph never reached (the forward pass would use it, the file not).
/// </summary>
internal sealed class OnnxEmitter(OnnxGraphBuilder graph, OnnxForm form)
{
    private readonly HashSet<nn.Module> _visited = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<ConvolutionalSliceGenerator, string> _generators =
        new(ReferenceEqualityComparer.Instance);

    public OnnxGraphBuilder Graph => graph;

    /// <summary>The nodes of <paramref name="module"/> (at <paramref name="path"/>) applied to <paramref
    /// name="input"/>; returns the output's name.</summary>
    public string Emit(nn.Module module, string path, string input)
    {
        _visited.Add(module);
        return module switch
        {
            AssociativeConv2d a => Associative(a, path, input),
            Conv2d c => Convolution(path, input, c.weight!, c.bias, c.stride, c.padding, c.dilation, c.groups, c),
            LowPrecisionConv2d low => Emit(low.Original, path, input),   // deployed in float32
            BatchNorm2d bn => BatchNorm(bn, path, input),
            Linear l => Gemm(path, input, l.weight!, l.bias),
            ReLU => Relu(input),
            Identity => input,
            Sequential s => s.named_children().Aggregate(input,
                (x, child) => Emit(child.module, Join(path, child.name), x)),
            _ when OnnxModelEmitters.Find(module) is { } emit => emit(this, module, path, input),
            _ => throw new OnnxExportException(
                $"'{(path.Length == 0 ? "(the model)" : path)}' is a {module.GetType().Name}, which " +
                    "the ONNX exporter " +
                    "does not know; export the zoo's models, or models whose layers are convolutions, batch-norm, " +
                    "linear, ReLU and sequences"),
        };
    }

    /// <summary>The child <paramref name="name"/> of <paramref name="parent"/>; its path is <c>path.name</c>.</summary>
    public nn.Module Child(nn.Module parent, string path, string name) =>
        parent.named_children().FirstOrDefault(c => c.name == name).module
            ?? throw new OnnxExportException($"'{Join(path, name)}' is missing: {parent.GetType().Name} changed " +
                "shape, and the exporter would not reproduce its forward pass");

    /// <summary>Emits the child <paramref name="name"/> of <paramref name="parent"/>.</summary>
    public string EmitChild(nn.Module parent, string path, string name, string input) =>
        Emit(Child(parent, path, name), Join(path, name), input);

    /// <summary>Refuses <paramref name="model"/> if any module in it was not written (the generator is written
    /// through the layers that use it).</summary>
    public void EnsureAllReached(nn.Module model)
    {
        foreach (var (name, module) in model.named_modules())
            if (name.Length > 0 && !_visited.Contains(module) && module is not ConvolutionalSliceGenerator)
                throw new OnnxExportException($"'{name}' ({module.GetType().Name}) is not part of the exported " +
                    "graph: the exporter does not know where the forward pass uses it");
    }

    public static string Join(string path, string name) => path.Length == 0 ? name : $"{path}.{name}";

    public string Relu(string x) => graph.Node("Relu", "relu", [x]);

    public string Add(string a, string b) => graph.Node("Add", "add", [a, b]);

    /// <summary>Global average pooling and flattening to [batch, channels].</summary>
    public string PoolAndFlatten(string x) =>
        graph.Node("Flatten", "flatten", [graph.Node("GlobalAveragePool", "pool", [x])], ("axis", 1L));

    private string Convolution(string path, string input, Tensor weight, Tensor? bias, long[] stride, long[]? padding,
        long[] dilation, long groups, Conv2d? plain = null)
    {
        if (plain is not null && !GuardedConv2d.ReachesConv2dAsIs(plain))
            throw new OnnxExportException($"'{path}': a convolution with padding mode {plain.padding_mode} or " +
                "transposed is not exported");
        var inputs = new List<string> { input, graph.Floats(Join(path, "weight"), weight) };
        if (bias is not null) inputs.Add(graph.Floats(Join(path, "bias"), bias));
        return Conv(inputs, weight.shape, stride, padding ?? [0, 0], dilation, groups);
    }

    private string Conv(List<string> inputs, long[] kernelShape, long[] stride, long[] padding, long[] dilation,
        long groups) =>
        graph.Node("Conv", "conv", inputs,
            ("kernel_shape", new[] { kernelShape[2], kernelShape[3] }), ("strides", stride),
            ("pads", new[] { padding[0], padding[1], padding[0], padding[1] }), ("dilations", dilation),
            ("group", groups));

    private string Associative(AssociativeConv2d a, string path, string input)
    {
        long[] stride = [a.Stride.Height, a.Stride.Width], padding = [a.Padding.Height, a.Padding.Width],
            dilation = [a.Dilation.Height, a.Dilation.Width];
        if (form == OnnxForm.Materialized)
        {
            using var _ = no_grad();
            using var kernel = a.GenerateKernel();
            return Convolution(path, input, kernel, a.Bias, stride, padding, dilation, a.Groups);
        }
        var inputs = new List<string> { input, GeneratedKernel(a, path) };
        if (a.Bias is not null) inputs.Add(graph.Floats(Join(path, "bias"), a.Bias));
        long[] kernelShape = [a.OutChannels, a.InChannelsPerGroup, a.KernelSize.Height, a.KernelSize.Width];
        return Conv(inputs, kernelShape, stride, padding, dilation, a.Groups);
    }

    // The kernel as AssociativeConv2d.GenerateKernel builds it: slices = codes x generator^T, laid out, cropped.
    private string GeneratedKernel(AssociativeConv2d a, string path)
    {
        var g = a.Generator;
        var s = g.Slice;
        if (!_generators.TryGetValue(g, out var weight))
            _generators[g] = weight = graph.Floats("CSG.weight", g.Weight);   // [slice elements, code size], once
        var slices = graph.Node("Gemm", Join(path, "slices"), [graph.Floats(Join(path, "code"), a.Code), weight],
            ("transB", 1L));
        long rows = a.SliceRows * s.Out, columns = a.SliceColumns * s.In;
        string padded = g.Layout switch
        {
            SliceLayout.Reference => Reshape(slices, path, rows, columns, s.KernelHeight, s.KernelWidth),
            SliceLayout.Blocked => Reshape(graph.Node("Transpose", Join(path, "blocks"),
                    [Reshape(slices, path, a.SliceRows, a.SliceColumns, s.Out, s.In, s.KernelHeight, s.KernelWidth)],
                    ("perm", new long[] { 0, 2, 1, 3, 4, 5 })),
                path, rows, columns, s.KernelHeight, s.KernelWidth),
            _ => throw new OnnxExportException($"'{path}': slice layout {g.Layout} is not exported"),
        };
        long[] ends = [a.OutChannels, a.InChannelsPerGroup, a.KernelSize.Height, a.KernelSize.Width];
        if (ends.SequenceEqual([rows, columns, s.KernelHeight, s.KernelWidth])) return padded;
        return graph.Node("Slice", Join(path, "kernel"), [padded, graph.Int64s(Join(path, "starts"), 0, 0, 0, 0),
            graph.Int64s(Join(path, "ends"), ends)]);
    }

    private string Reshape(string x, string path, params long[] shape) =>
        graph.Node("Reshape", Join(path, "reshaped"), [x, graph.Int64s(Join(path, "shape"), shape)]);

    private string BatchNorm(BatchNorm2d bn, string path, string input)
    {
        if (bn.running_mean is null || bn.running_var is null)
            throw new OnnxExportException($"'{path}': batch-norm without running statistics is not exported");
        long channels = bn.running_mean.shape[0];
        using var ones = torch.ones(channels);
        using var zeros = torch.zeros(channels);
        return graph.Node("BatchNormalization", "bn",
            [input, graph.Floats(Join(path, "weight"), bn.weight ?? ones),
                graph.Floats(Join(path, "bias"), bn.bias ?? zeros),
                graph.Floats(Join(path, "running_mean"), bn.running_mean),
                graph.Floats(Join(path, "running_var"), bn.running_var)],
            ("epsilon", bn.eps));
    }

    private string Gemm(string path, string input, Tensor weight, Tensor? bias)
    {
        var inputs = new List<string> { input, graph.Floats(Join(path, "weight"), weight) };
        if (bias is not null) inputs.Add(graph.Floats(Join(path, "bias"), bias));
        return graph.Node("Gemm", "linear", inputs, ("transB", 1L));
    }
}
