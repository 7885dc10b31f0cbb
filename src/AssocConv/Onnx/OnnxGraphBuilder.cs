using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace AssocConv.Onnx;

/// <summary>
/// Collects the nodes and initializers of one ONNX graph (OnnxSharp's protobuf classes), naming every value uniquely.
/// Tensors are stored as little-endian raw data, as ONNX specifies.
/// </summary>
internal sealed class OnnxGraphBuilder
{
    private readonly GraphProto _graph = new();
    private readonly HashSet<string> _names = [];
    private int _nodes;

    /// <summary>A name no value has yet: <paramref name="hint"/>, or it with a number appended.</summary>
    public string Unique(string hint)
    {
        var name = hint.Length == 0 ? "value" : hint;
        for (int k = 1; !_names.Add(name); k++) name = $"{hint}_{k}";
        return name;
    }

    /// <summary>Stores <paramref name="tensor"/> (any floating type, written as float32) as an initializer.</summary>
    public string Floats(string hint, Tensor tensor)
    {
        using var values = tensor.detach().to(float32).cpu().contiguous();
        var data = values.data<float>().ToArray();
        var proto = new TensorProto { Name = Unique(hint), DataType = (int)TensorProto.Types.DataType.Float };
        proto.Dims.Add(values.shape);
        proto.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(data.AsSpan()));
        _graph.Initializer.Add(proto);
        return proto.Name;
    }

    /// <summary>Stores a one-dimensional int64 initializer (shapes, slice bounds, pads).</summary>
    public string Int64s(string hint, params long[] values)
    {
        var proto = new TensorProto { Name = Unique(hint), DataType = (int)TensorProto.Types.DataType.Int64 };
        proto.Dims.Add(values.Length);
        proto.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan()));
        _graph.Initializer.Add(proto);
        return proto.Name;
    }

    /// <summary>Adds a node of <paramref name="op"/> and returns the name of its single output.</summary>
    public string Node(string op, string outputHint, IEnumerable<string> inputs,
        params (string Name, object Value)[] attributes)
    {
        var node = new NodeProto { OpType = op, Name = $"{op}_{_nodes++}" };
        node.Input.Add(inputs);
        var output = Unique(outputHint);
        node.Output.Add(output);
        foreach (var (name, value) in attributes) node.Attribute.Add(Attribute(name, value));
        _graph.Node.Add(node);
        return output;
    }

    private static AttributeProto Attribute(string name, object value)
    {
        var a = new AttributeProto { Name = name };
        switch (value)
        {
            case long i: a.Type = AttributeProto.Types.AttributeType.Int; a.I = i; break;
            case int i: a.Type = AttributeProto.Types.AttributeType.Int; a.I = i; break;
            case float f: a.Type = AttributeProto.Types.AttributeType.Float; a.F = f; break;
            case double f: a.Type = AttributeProto.Types.AttributeType.Float; a.F = (float)f; break;
            case string s: a.Type = AttributeProto.Types.AttributeType.String; a.S = ByteString.CopyFromUtf8(s); break;
            case long[] ints: a.Type = AttributeProto.Types.AttributeType.Ints; a.Ints.Add(ints); break;
            default: throw new ArgumentException($"attribute {name}: {value.GetType().Name} is not an " +
                "ONNX attribute type");
        }
        return a;
    }

    /// <summary>The model: a float32 input <paramref name="input"/> of shape [batch, C, H, W] with a dynamic batch,
    /// the output <paramref name="output"/> [batch, classes], and <paramref name="metadata"/>.</summary>
    public ModelProto Build(string graphName, string input, (long C, long H, long W) inputSize, string output,
        long classes, int opset, IEnumerable<KeyValuePair<string, string>> metadata)
    {
        _graph.Name = graphName;
        _graph.Input.Add(Value(input, [null, inputSize.C, inputSize.H, inputSize.W]));
        _graph.Output.Add(Value(output, [null, classes]));
        var model = new ModelProto
        {
            IrVersion = 8,   // what opset 17 pairs with, so that ONNX Runtime and onnx 1.12's checker both accept it
            ProducerName = "AssocConv",
            ProducerVersion = typeof(OnnxGraphBuilder).Assembly.GetName().Version?.ToString() ?? "",
            Graph = _graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
        foreach (var (key, value) in metadata) model.MetadataProps.Add(new StringStringEntryProto { Key = key,
            Value = value });
        return model;
    }

    private static ValueInfoProto Value(string name, long?[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
            shape.Dim.Add(d is { } n ? new TensorShapeProto.Types.Dimension { DimValue = n }
                : new TensorShapeProto.Types.Dimension { DimParam = "batch" });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto
            {
                TensorType =
                    new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape },
            },
        };
    }
}
