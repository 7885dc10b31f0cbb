using System.IO.Compression;
using System.Numerics;
using System.Text;

namespace AssocConv.Tests.Interop;

/// <summary>Writes pickles opcode by opcode, as an attacker would craft them.</summary>
internal sealed class PickleBytes
{
    private readonly MemoryStream _stream = new();

    public PickleBytes Op(char op) { _stream.WriteByte((byte)op); return this; }
    public PickleBytes Op(byte op) { _stream.WriteByte(op); return this; }
    public PickleBytes Raw(params byte[] bytes) { _stream.Write(bytes); return this; }
    public PickleBytes Repeat(char op, int times)
    {
        for (int k = 0; k < times; k++) _stream.WriteByte((byte)op);
        return this;
    }
    public PickleBytes Ascii(string text) => Raw(Encoding.ASCII.GetBytes(text));

    /// <summary>BINUNICODE.</summary>
    public PickleBytes Str(string s)
    {
        var b = Encoding.UTF8.GetBytes(s);
        return Op('X').Raw(BitConverter.GetBytes(b.Length)).Raw(b);
    }

    /// <summary>BININT.</summary>
    public PickleBytes Int(int v) => Op('J').Raw(BitConverter.GetBytes(v));

    public PickleBytes Long(long v) => Op(0x8a).Raw(8).Raw(BitConverter.GetBytes(v));

    public PickleBytes Global(string module, string name) => Op('c').Ascii($"{module}\n{name}\n");

    public PickleBytes Put(int index) => Op('q').Raw((byte)index);
    public PickleBytes Get(int index) => Op('h').Raw((byte)index);

    public PickleBytes Proto() => Op(0x80).Raw(2);

    /// <summary>An empty OrderedDict, as torch.save starts a state dict.</summary>
    public PickleBytes OrderedDict() => Global("collections", "OrderedDict").Op(')').Op('R');

    /// <summary>A float32 tensor viewing storage <paramref name="key"/> of <paramref name="numel"/> elements.</summary>
    public PickleBytes Tensor(string key, long numel, long[] size, long[] stride, long offset = 0)
    {
        Global("torch._utils", "_rebuild_tensor_v2").Op('(');
        Op('(').Str("storage").Global("torch", "FloatStorage").Str(key).Str("cpu").Long(numel).Op('t').Op('Q');
        Long(offset);
        Op('('); foreach (var s in size) Long(s); Op('t');
        Op('('); foreach (var s in stride) Long(s); Op('t');
        Op(0x89).OrderedDict().Op('t').Op('R');
        return this;
    }

    public byte[] ToArray() => _stream.ToArray();
}

/// <summary>torch.save files around crafted pickles, in both layouts.</summary>
internal static class CraftedTorchFiles
{
    /// <summary>An OrderedDict state dict <c>{'w': float32 tensor of 4 on storage '0'}</c>, then <paramref
    /// name="more"/> entries before SETITEMS.</summary>
    public static PickleBytes StateDict(Action<PickleBytes>? more = null)
    {
        var p = new PickleBytes().Proto().OrderedDict().Op('(').Str("w").Tensor("0", 4, [4], [1]);
        more?.Invoke(p);
        return p.Op('u').Op('.');
    }

    public static byte[] Floats(params float[] values) => values.SelectMany(BitConverter.GetBytes).ToArray();

    /// <summary>A PyTorch 1.6+ zip file: <c>archive/data.pkl</c> and one entry per storage.</summary>
    public static byte[] Zip(byte[] pickle, IReadOnlyDictionary<string, byte[]>? storages = null,
        CompressionLevel level = CompressionLevel.NoCompression)
    {
        storages ??= new Dictionary<string, byte[]> { ["0"] = Floats(1, 2, 3, 4) };
        using var stream = new MemoryStream();
        using (var zip = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true))
        {
            void Add(string name, byte[] bytes)
            {
                using var s = zip.CreateEntry(name, level).Open();
                s.Write(bytes);
            }
            Add("archive/data.pkl", pickle);
            foreach (var (key, bytes) in storages) Add($"archive/data/{key}", bytes);
        }
        return stream.ToArray();
    }

    /// <summary>A legacy (before PyTorch 1.6) file: magic, protocol, sys_info, the object, its storage keys, the
    /// storages.</summary>
    public static byte[] Legacy(byte[] pickle, IReadOnlyDictionary<string, byte[]>? storages = null)
    {
        storages ??= new Dictionary<string, byte[]> { ["0"] = Floats(1, 2, 3, 4) };
        var magic = BigInteger.Parse("119547037146038801333356").ToByteArray();
        using var stream = new MemoryStream();
        stream.Write(new PickleBytes().Proto().Op(0x8a).Raw((byte)magic.Length).Raw(magic).Op('.').ToArray());
        stream.Write(new PickleBytes().Proto().Op('M').Raw(BitConverter.GetBytes((short)1001)).Op('.').ToArray());
        stream.Write(new PickleBytes().Proto().Op('}').Str("little_endian").Op(0x88).Op('s').Op('.').ToArray());
        stream.Write(pickle);
        var keys = new PickleBytes().Proto().Op('(');
        foreach (var key in storages.Keys) keys.Str(key);
        stream.Write(keys.Op('l').Op('.').ToArray());
        foreach (var bytes in storages.Values)
        {
            stream.Write(BitConverter.GetBytes((long)(bytes.Length / 4)));
            stream.Write(bytes);
        }
        return stream.ToArray();
    }
}
