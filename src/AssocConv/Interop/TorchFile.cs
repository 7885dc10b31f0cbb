using System.Collections;
using System.IO.Compression;
using System.Numerics;
using AssocConv.IO;
using Razorvine.Pickle;
using Razorvine.Pickle.Objects;
using static TorchSharp.torch;

namespace AssocConv.Interop;

/// <summary>The two layouts of <c>torch.save</c>.</summary>
public enum TorchFileLayout
{
    /// <summary>Before PyTorch 1.6: pickled magic number, protocol, sys_info, object, storage keys, then raw
    /// storages.</summary>
    Legacy,
    /// <summary>PyTorch 1.6 and later: a zip archive with <c>data.pkl</c> and one file per storage.</summary>
    Zip,
}

/// <summary>
/// A file written by PyTorch's <c>torch.save</c>, read safely: the pickle may name only an allow-list of
/// globals (ordered dicts, the tensor-rebuild functions, storage types), like <c>torch.load(weights_only=True)</c>;
/// any other is refused by name. Sizes declared in the pickle are checked against the file before anything
/// is allocated, and every tensor view against its storage.
/// </summary>
public sealed class TorchFile : IDisposable
{
    // 0x1950a86a20f9469cfc6c, the first pickle of the legacy (pre-zip) format
    private static readonly BigInteger LegacyMagic = BigInteger.Parse("119547037146038801333356");
    private const int LegacyProtocol = 1001;

    /// <summary>The layout the file was written in.</summary>
    public TorchFileLayout Layout { get; }

    /// <summary>
    /// Every tensor the file holds, by its path in the saved object (dict keys joined by '/'). Names saved as the
    /// same view of one storage share one tensor: copy before changing one in place.
    /// </summary>
    public IReadOnlyDictionary<string, Tensor> Tensors { get; }

    /// <summary>The state dict: the value of <c>'net'</c>, <c>'state_dict'</c> or <c>'model'</c> when the file wraps
    /// one, otherwise the saved dict itself.</summary>
    public IReadOnlyDictionary<string, Tensor> StateDict { get; }

    /// <summary>Numbers and strings saved beside the state dict (e.g. <c>acc</c>, <c>epoch</c>).</summary>
    public IReadOnlyDictionary<string, object?> Extras { get; }

    private TorchFile(TorchFileLayout layout, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string,
        Tensor> stateDict, IReadOnlyDictionary<string, object?> extras)
    {
        Layout = layout;
        Tensors = tensors;
        StateDict = stateDict;
        Extras = extras;
    }

    /// <summary>Reads a <c>torch.save</c> file of either layout.</summary>
    /// <exception cref="InvalidDataException">
    /// Not a torch file, damaged, truncated, naming a global outside the allow-list, or beyond a limit (nesting
    /// depth, object count, decoded size); the message names the file and the fault.
    /// </exception>
    public static TorchFile Read(string path)
    {
        var bytes = RegularFile.ReadAllBytes(path);
        try
        {
            return bytes.Length >= 4 && bytes[0] == 'P' && bytes[1] == 'K' ? ReadZip(path, bytes)
                : ReadLegacy(path, bytes);
        }
        catch (InvalidDataException e) when (e.Message.StartsWith(path + ":", StringComparison.Ordinal)) { throw; }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{path}: damaged archive: {e.Message}", e);
        }
        catch (Exception e) when (e is PickleException or InvalidCastException or IndexOutOfRangeException
            or ArgumentException
            or EndOfStreamException or IOException or NullReferenceException or KeyNotFoundException
                or OverflowException
            or FormatException or InvalidOperationException or NotSupportedException
                or System.Reflection.TargetInvocationException
            or OutOfMemoryException)
        {
            throw new InvalidDataException($"{path}: not a readable torch.save file: {Describe(e)}", e);
        }
    }

    // what went wrong, in words rather than .NET type names
    private static string Describe(Exception e) => e switch
    {
        PickleException => $"damaged pickle ({e.Message})",
        InvalidCastException or NullReferenceException or KeyNotFoundException or IndexOutOfRangeException =>
            "the pickle does not hold what torch.save writes",
        OverflowException => "a number out of range",
        EndOfStreamException => "truncated",
        OutOfMemoryException => "too large to read",
        System.Reflection.TargetInvocationException { InnerException: { } inner } => Describe(inner),
        _ => e.Message,
    };

    private static TorchFile ReadLegacy(string path, byte[] bytes)
    {
        using var stream = new MemoryStream(bytes, writable: false);
        var unpickler = new SafeUnpickler(path);
        object Next()
        {
            PickleScanner.Scan(path, bytes, (int)stream.Position);   // lengths and globals, before anything is built
            return unpickler.load(stream);
        }
        if (Next() is not BigInteger magic || magic != LegacyMagic)
            throw new InvalidDataException($"{path}: not a torch.save file (no PyTorch magic number)");
        if (Next() is not int protocol || protocol != LegacyProtocol)
            throw new InvalidDataException($"{path}: unsupported torch.save protocol");
        if (Next() is not IDictionary sysInfo || sysInfo["little_endian"] is not true)
            throw new InvalidDataException($"{path}: written on a big-endian machine, which is not supported");
        var root = Next();
        if (Next() is not IList keys) throw new InvalidDataException($"{path}: no storage key list");
        var data = new Dictionary<string, byte[]>();
        using var reader = new BinaryReader(stream);
        foreach (var k in keys)
        {
            var key = k?.ToString() ?? throw new InvalidDataException($"{path}: a storage key is missing");
            if (!unpickler.Storages.TryGetValue(key, out var storage))
                throw new InvalidDataException($"{path}: storage '{key}' is listed but no tensor uses it");
            if (stream.Length - stream.Position < 8) throw new InvalidDataException($"{path}: truncated before " +
                $"storage '{key}'");
            long numel = reader.ReadInt64();
            if (numel != storage.Numel)
                throw new InvalidDataException($"{path}: storage '{key}' holds {numel} elements, the pickle declared " +
                    $"{storage.Numel}");
            long length = checked(numel * storage.ElementSize);
            if (length < 0 || length > stream.Length - stream.Position)
                throw new InvalidDataException($"{path}: truncated: storage '{key}' needs {length:N0} bytes, " +
                    $"{stream.Length - stream.Position:N0} are left");
            data[key] = reader.ReadBytes((int)length);
        }
        return Build(path, TorchFileLayout.Legacy, root, unpickler, data);
    }

    private static TorchFile ReadZip(string path, byte[] bytes)
    {
        using var zip = new ZipArchive(new MemoryStream(bytes, writable: false), ZipArchiveMode.Read);
        var pkl = zip.Entries.FirstOrDefault(e => e.FullName.EndsWith("/data.pkl",
            StringComparison.Ordinal) || e.FullName == "data.pkl")
            ?? throw new InvalidDataException($"{path}: a zip file without data.pkl is not a torch.save file");
        var prefix = pkl.FullName[..^"data.pkl".Length];
        // torch.save stores its entries uncompressed; a deflated archive may expand, but not like a zip bomb
        long budget = DecodedBudget(bytes.Length);
        var pickle = ReadEntry(path, pkl, ref budget);
        PickleScanner.Scan(path, pickle);
        var unpickler = new SafeUnpickler(path);
        var root = unpickler.loads(pickle);
        var data = new Dictionary<string, byte[]>();
        foreach (var (key, storage) in unpickler.Storages)
        {
            var entry = zip.GetEntry($"{prefix}data/{key}") ?? throw new InvalidDataException($"{path}: storage " +
                $"'{key}' is missing from the archive");
            long length = checked(storage.Numel * storage.ElementSize);
            if (entry.Length != length)
                throw new InvalidDataException($"{path}: storage '{key}' has {entry.Length:N0} bytes, the pickle " +
                    $"declared {length:N0}");
            data[key] = ReadEntry(path, entry, ref budget);
        }
        return Build(path, TorchFileLayout.Zip, root, unpickler, data);
    }

    /// <summary>Bytes a file of <paramref name="fileBytes"/> may decode to: its size a few times over, whatever its
    /// entries claim.</summary>
    internal static long DecodedBudget(long fileBytes) => 4 * fileBytes + (16 << 20);

    // an entry's bytes, within the decoding budget and checked against its CRC-32
    private static byte[] ReadEntry(string path, ZipArchiveEntry entry, ref long budget)
    {
        if (entry.Length > budget)
            throw new InvalidDataException(
                $"{path}: entry '{entry.FullName}' expands {entry.CompressedLength:N0} bytes to {entry.Length:N0}, " +
                    "beyond what the file may decode to (4x its size + 16 MiB)");
        budget -= entry.Length;
        var buffer = new byte[entry.Length];
        using (var s = entry.Open())
        {
            s.ReadExactly(buffer);
            if (s.ReadByte() >= 0) throw new InvalidDataException($"{path}: entry '{entry.FullName}' holds more than " +
                $"the {entry.Length:N0} bytes it declares");
        }
        if (System.IO.Hashing.Crc32.HashToUInt32(buffer) != entry.Crc32)
            throw new InvalidDataException($"{path}: entry '{entry.FullName}' is damaged (its CRC-32 does not match)");
        return buffer;
    }

    private static TorchFile Build(string path, TorchFileLayout layout, object root, SafeUnpickler unpickler,
        Dictionary<string, byte[]> data)
    {
        var storages = new Dictionary<string, Tensor>();
        var tensors = new Dictionary<string, Tensor>();
        try
        {
            foreach (var (key, bytes) in data)
            {
                var storage = unpickler.Storages[key];
                var typed = empty(storage.Numel, storage.DType);
                typed.bytes = bytes;   // little-endian raw elements, as the sys_info check and zip layout guarantee
                storages[key] = typed;
            }
            // views may overlap (tied weights), but not copy the same storage over and over
            long storageBytes = data.Values.Sum(b => (long)b.Length);
            var walk = new Walk(path, storages, tensors, MaterializedBytes: 2 * storageBytes + (64 << 10));
            walk.Collect(root, null, depth: 0);
        }
        catch
        {
            DisposeAll(tensors.Values);
            throw;
        }
        finally
        {
            foreach (var s in storages.Values) s.Dispose();
        }
        var extras = new Dictionary<string, object?>();
        IReadOnlyDictionary<string, Tensor> stateDict = tensors;
        if (root is IDictionary top)
        {
            foreach (DictionaryEntry e in top)
                if (e.Value is string or int or long or double or bool or BigInteger
                    || e.Value is null) extras[e.Key.ToString()!] = e.Value;
            var wrapper = new[] { "net", "state_dict",
                "model" }.FirstOrDefault(k => top.Contains(k) && top[k] is IDictionary);
            if (wrapper is not null)
                stateDict = tensors.Where(t => t.Key.StartsWith(wrapper + "/", StringComparison.Ordinal))
                    .ToDictionary(t => t.Key[(wrapper.Length + 1)..], t => t.Value);
        }
        return new TorchFile(layout, tensors, stateDict, extras);
    }

    /// <summary>Objects nested deeper than this are refused: a checkpoint's dicts nest a few levels.</summary>
    internal const int MaxDepth = 64;

    /// <summary>Named tensors a file may hold (a ResNet-152's state dict has 930).</summary>
    internal const int MaxTensors = 20_000;

    // Walks the unpickled tree into named tensors. Memo references can make a tree out of a small graph that
    // is exponentially large or cyclic, so containers on the current path, depth and visits are bounded. Names
    // are built only for tensors. Tensors that are the same view of a storage (the reference stores its
    // generator again under every block) share one copy; distinct views may add up to twice the storages.
    private sealed record Walk(string Path, Dictionary<string, Tensor> Storages, Dictionary<string, Tensor> Tensors,
        long MaterializedBytes)
    {
        public sealed record Name(Name? Parent, object Key)
        {
            public override string ToString()
            {
                var keys = new List<string>();
                for (var n = this; n is not null; n = n.Parent) keys.Add($"{n.Key}");
                keys.Reverse();
                return string.Join('/', keys);
            }
        }

        private readonly HashSet<object> _ancestors = new(ReferenceEqualityComparer.Instance);
        private readonly Dictionary<(string, long, string, string), Tensor> _views = new();
        private long _visits, _materialized;

        public void Collect(object? node, Name? name, int depth)
        {
            if (++_visits > PickleScanner.MaxObjects)
                throw new InvalidDataException($"{Path}: its objects, expanded through shared references, exceed " +
                    $"{PickleScanner.MaxObjects:N0}");
            switch (node)
            {
                case TensorRef t:
                    if (Tensors.Count >= MaxTensors)
                        throw new InvalidDataException($"{Path}: more than {MaxTensors:N0} tensors (a large model's " +
                            "state dict holds a few thousand)");
                    var key = name?.ToString() ?? "";
                    if (Tensors.ContainsKey(key)) throw new InvalidDataException($"{Path}: two tensors " +
                        $"are named '{key}'");
                    Tensors[key] = Materialize(key, t);
                    return;
                case ClassDictConstructor c:
                    throw new InvalidDataException($"{Path}: refuses global '{c.module}.{c.name}' (only tensors, " +
                        "storages, ordered dicts, numbers and strings are loaded)");
                case string or byte[] or null:
                    return;
                case IEnumerable container:
                    if (depth >= MaxDepth) throw new InvalidDataException($"{Path}: objects nested deeper than " +
                        $"{MaxDepth} levels");
                    if (!_ancestors.Add(container)) throw new InvalidDataException($"{Path}: a container holds " +
                        $"itself (at '{name}')");
                    if (container is IDictionary d)
                        foreach (DictionaryEntry e in d) Collect(e.Value, new Name(name, e.Key), depth + 1);
                    else
                    {
                        int i = 0;
                        foreach (var item in container) Collect(item, new Name(name, i++), depth + 1);
                    }
                    _ancestors.Remove(container);
                    return;
            }
        }

        private Tensor Materialize(string name, TensorRef t)
        {
            if (!Storages.TryGetValue(t.Storage.Key, out var storage))
                throw new InvalidDataException($"{Path}: tensor '{name}' uses storage '{t.Storage.Key}', which the " +
                    "file does not hold");
            if (t.Size.Length != t.Stride.Length || t.Size.Length > MaxDepth || t.Size.Any(s => s < 0)
                || t.Stride.Any(s => s < 0) || t.Offset < 0)
                throw new InvalidDataException($"{Path}: tensor '{name}' has an invalid shape or stride");
            var view = (t.Storage.Key, t.Offset, string.Join(',', t.Size), string.Join(',', t.Stride));
            if (_views.TryGetValue(view, out var same)) return same;
            long last = t.Offset, numel = 1;
            bool empty = t.Size.Any(s => s == 0);
            for (int d = 0; d < t.Size.Length; d++)
            {
                last = checked(last + (t.Size[d] - 1) * t.Stride[d]);
                numel = checked(numel * t.Size[d]);
            }
            if (!empty && last >= storage.shape[0])
                throw new InvalidDataException($"{Path}: tensor '{name}' reaches element {last} of a storage of " +
                    $"{storage.shape[0]}");
            _materialized = checked(_materialized + numel * t.Storage.ElementSize);
            if (_materialized > MaterializedBytes)
                throw new InvalidDataException(
                    $"{Path}: its tensors would take more than {MaterializedBytes:N0} bytes, twice its storages' " +
                        "size (views repeat the same elements)");
            using var strided = storage.as_strided(t.Size, t.Stride, t.Offset);
            return _views[view] = strided.clone();
        }
    }

    /// <inheritdoc />
    public void Dispose() => DisposeAll(Tensors.Values);

    // names holding the same view share one tensor: each is disposed once
    private static void DisposeAll(IEnumerable<Tensor> tensors)
    {
        foreach (var t in tensors.Distinct(ReferenceEqualityComparer.Instance).Cast<Tensor>()) t.Dispose();
    }
}
