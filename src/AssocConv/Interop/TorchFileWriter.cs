using System.IO.Compression;
using System.Text;
using static TorchSharp.torch;

namespace AssocConv.Interop;

/// <summary>
/// Writes a state dict as PyTorch's zip-format <c>torch.save</c> file (an <c>OrderedDict</c> of tensors, protocol-2
/// pickle, one stored record per storage), which <c>torch.load</c> reads. A tensor object listed under several names is
/// written once and shared, as PyTorch shares a module registered in several places.
/// </summary>
public static class TorchFileWriter
{
    private static readonly Dictionary<ScalarType, string> StorageNames = new()
    {
        [ScalarType.Float32] = "FloatStorage", [ScalarType.Float64] = "DoubleStorage",
            [ScalarType.Float16] = "HalfStorage",
        [ScalarType.BFloat16] = "BFloat16Storage", [ScalarType.Int64] = "LongStorage",
            [ScalarType.Int32] = "IntStorage",
        [ScalarType.Int16] = "ShortStorage", [ScalarType.Int8] = "CharStorage", [ScalarType.Byte] = "ByteStorage",
    [ScalarType.Bool] = "BoolStorage", };

    /// <summary>Writes <paramref name="entries"/> (in order) to <paramref name="path"/>, atomically.</summary>
    public static void Write(string path, IReadOnlyList<(string Name, Tensor Tensor)> entries)
    {
        var keys = new Dictionary<Tensor, string>(ReferenceEqualityComparer.Instance);
        var storages = new List<(string Key, byte[] Bytes)>();
        var pickle = new MemoryStream();
        void Op(char c) => pickle.WriteByte((byte)c);
        void Raw(byte[] b) => pickle.Write(b);
        void Str(string s) { var b = Encoding.UTF8.GetBytes(s); Op('X'); Raw(BitConverter.GetBytes(b.Length)); Raw(b); }
        void Global(string module, string name) { Op('c'); Raw(Encoding.ASCII.GetBytes($"{module}\n{name}\n")); }
        void Int(long v)
        {
            if (v is >= int.MinValue and <= int.MaxValue) { Op('J'); Raw(BitConverter.GetBytes((int)v)); }
            else { pickle.WriteByte(0x8a); pickle.WriteByte(8); Raw(BitConverter.GetBytes(v)); }   // LONG1
        }
        void Tuple(IEnumerable<long> values) { Op('('); foreach (var v in values) Int(v); Op('t'); }

        pickle.WriteByte(0x80); pickle.WriteByte(2);                     // PROTO 2
        Global("collections", "OrderedDict"); Op(')'); Op('R');           // OrderedDict()
        Op('(');                                                         // MARK for SETITEMS
        foreach (var (name, original) in entries)
        {
            if (!StorageNames.TryGetValue(original.dtype, out var storageName))
                throw new ArgumentException($"{name}: tensors of type {original.dtype} cannot be written");
            if (!keys.TryGetValue(original, out var key))
            {
                key = storages.Count.ToString();
                keys[original] = key;
                using var contiguous = original.detach().cpu().contiguous();
                storages.Add((key, contiguous.bytes.ToArray()));
            }
            var shape = original.shape;
            var stride = new long[shape.Length];
            for (int d = shape.Length - 1, s = 1; d >= 0; d--) { stride[d] = s; s *= (int)Math.Max(shape[d], 1); }
            Str(name);
            Global("torch._utils", "_rebuild_tensor_v2");
            Op('(');
            Op('('); Str("storage"); Global("torch", storageName); Str(key); Str("cpu"); Int(original.numel());
            Op('t'); Op('Q');                                            // BINPERSID
            Int(0);                                                      // storage offset
            Tuple(shape);
            Tuple(stride);
            pickle.WriteByte(0x89);                                      // requires_grad = False
            Global("collections", "OrderedDict"); Op(')'); Op('R');       // backward hooks
            Op('t');
            Op('R');
        }
        Op('u');                                                         // SETITEMS
        Op('.');                                                         // STOP

        IO.AtomicFile.Write(path, stream =>
        {
            using var zip = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true);
            void Entry(string name, byte[] bytes)
            {
                var entry = zip.CreateEntry($"archive/{name}", CompressionLevel.NoCompression);
                using var s = entry.Open();
                s.Write(bytes);
            }
            Entry("data.pkl", pickle.ToArray());
            Entry("byteorder", Encoding.ASCII.GetBytes("little"));
            foreach (var (key, bytes) in storages) Entry($"data/{key}", bytes);
            Entry("version", Encoding.ASCII.GetBytes("3\n"));
        });
    }
}
