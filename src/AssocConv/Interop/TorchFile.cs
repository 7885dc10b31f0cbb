using System.Collections;
using System.IO.Compression;
using System.Numerics;
using Razorvine.Pickle;
using Razorvine.Pickle.Objects;
using static TorchSharp.torch;

namespace AssocConv.Interop;

/// <summary>The two layouts of <c>torch.save</c>.</summary>
public enum TorchFileLayout
{
    /// <summary>Before PyTorch 1.6: pickled magic number, protocol, sys_info, object, storage keys, then raw storages.</summary>
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
    private static readonly BigInteger LegacyMagic = BigInteger.Parse("119547037146038801333356");   // 0x1950a86a20f9469cfc6c
    private const int LegacyProtocol = 1001;

    /// <summary>The layout the file was written in.</summary>
    public TorchFileLayout Layout { get; }

    /// <summary>Every tensor the file holds, by its path in the saved object (dict keys joined by '/').</summary>
    public IReadOnlyDictionary<string, Tensor> Tensors { get; }

    /// <summary>The state dict: the value of <c>'net'</c>, <c>'state_dict'</c> or <c>'model'</c> when the file wraps one, otherwise the saved dict itself.</summary>
    public IReadOnlyDictionary<string, Tensor> StateDict { get; }

    /// <summary>Numbers and strings saved beside the state dict (e.g. <c>acc</c>, <c>epoch</c>).</summary>
    public IReadOnlyDictionary<string, object?> Extras { get; }

    private TorchFile(TorchFileLayout layout, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, Tensor> stateDict,
        IReadOnlyDictionary<string, object?> extras)
    {
        Layout = layout;
        Tensors = tensors;
        StateDict = stateDict;
        Extras = extras;
    }

    /// <summary>Reads a <c>torch.save</c> file of either layout.</summary>
    /// <exception cref="InvalidDataException">Not a torch file, damaged, truncated, or naming a global outside the allow-list.</exception>
    public static TorchFile Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"no file at {path}", path);
        var bytes = File.ReadAllBytes(path);
        try
        {
            return bytes.Length >= 4 && bytes[0] == 'P' && bytes[1] == 'K' ? ReadZip(path, bytes) : ReadLegacy(path, bytes);
        }
        catch (InvalidDataException) { throw; }
        catch (Exception e) when (e is PickleException or InvalidCastException or IndexOutOfRangeException or ArgumentException
            or EndOfStreamException or IOException or NullReferenceException or KeyNotFoundException or OverflowException
            or FormatException or InvalidOperationException or NotSupportedException or System.Reflection.TargetInvocationException
            or OutOfMemoryException)
        {
            throw new InvalidDataException($"{path}: not a readable torch.save file ({e.GetType().Name}: {e.Message})", e);
        }
    }

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
            if (stream.Length - stream.Position < 8) throw new InvalidDataException($"{path}: truncated before storage '{key}'");
            long numel = reader.ReadInt64();
            if (numel != storage.Numel)
                throw new InvalidDataException($"{path}: storage '{key}' holds {numel} elements, the pickle declared {storage.Numel}");
            long length = checked(numel * storage.ElementSize);
            if (length < 0 || length > stream.Length - stream.Position)
                throw new InvalidDataException($"{path}: truncated: storage '{key}' needs {length:N0} bytes, {stream.Length - stream.Position:N0} are left");
            data[key] = reader.ReadBytes((int)length);
        }
        return Build(path, TorchFileLayout.Legacy, root, unpickler, data);
    }

    private static TorchFile ReadZip(string path, byte[] bytes)
    {
        using var zip = new ZipArchive(new MemoryStream(bytes, writable: false), ZipArchiveMode.Read);
        var pkl = zip.Entries.FirstOrDefault(e => e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal) || e.FullName == "data.pkl")
            ?? throw new InvalidDataException($"{path}: a zip file without data.pkl is not a torch.save file");
        var prefix = pkl.FullName[..^"data.pkl".Length];
        if (pkl.Length > bytes.Length * 1000L + 1_000_000)
            throw new InvalidDataException($"{path}: data.pkl claims {pkl.Length:N0} bytes");
        var pickle = new byte[pkl.Length];
        using (var s = pkl.Open()) s.ReadExactly(pickle);
        PickleScanner.Scan(path, pickle);
        var unpickler = new SafeUnpickler(path);
        var root = unpickler.loads(pickle);
        var data = new Dictionary<string, byte[]>();
        foreach (var (key, storage) in unpickler.Storages)
        {
            var entry = zip.GetEntry($"{prefix}data/{key}") ?? throw new InvalidDataException($"{path}: storage '{key}' is missing from the archive");
            long length = checked(storage.Numel * storage.ElementSize);
            if (entry.Length != length)
                throw new InvalidDataException($"{path}: storage '{key}' has {entry.Length:N0} bytes, the pickle declared {length:N0}");
            var buffer = new byte[length];
            using (var s = entry.Open()) s.ReadExactly(buffer);
            data[key] = buffer;
        }
        return Build(path, TorchFileLayout.Zip, root, unpickler, data);
    }

    private static TorchFile Build(string path, TorchFileLayout layout, object root, SafeUnpickler unpickler, Dictionary<string, byte[]> data)
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
            Collect(path, root, "", tensors, storages);
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
                if (e.Value is string or int or long or double or bool or BigInteger || e.Value is null) extras[e.Key.ToString()!] = e.Value;
            var wrapper = new[] { "net", "state_dict", "model" }.FirstOrDefault(k => top.Contains(k) && top[k] is IDictionary);
            if (wrapper is not null)
                stateDict = tensors.Where(t => t.Key.StartsWith(wrapper + "/", StringComparison.Ordinal))
                    .ToDictionary(t => t.Key[(wrapper.Length + 1)..], t => t.Value);
        }
        return new TorchFile(layout, tensors, stateDict, extras);
    }

    private static void Collect(string path, object? node, string prefix, Dictionary<string, Tensor> tensors, Dictionary<string, Tensor> storages)
    {
        switch (node)
        {
            case TensorRef t:
                tensors[prefix] = Materialize(path, prefix, t, storages);
                break;
            case IDictionary d:
                foreach (DictionaryEntry e in d) Collect(path, e.Value, prefix.Length == 0 ? e.Key.ToString()! : $"{prefix}/{e.Key}", tensors, storages);
                break;
            case ClassDictConstructor c:
                throw new InvalidDataException($"{path}: refuses global '{c.module}.{c.name}' (only tensors, storages, ordered dicts, numbers and strings are loaded)");
            case string:
                break;
            case IEnumerable list:
                int i = 0;
                foreach (var item in list) Collect(path, item, $"{prefix}/{i++}", tensors, storages);
                break;
        }
    }

    private static Tensor Materialize(string path, string name, TensorRef t, Dictionary<string, Tensor> storages)
    {
        if (!storages.TryGetValue(t.Storage.Key, out var storage))
            throw new InvalidDataException($"{path}: tensor '{name}' uses storage '{t.Storage.Key}', which the file does not hold");
        if (t.Size.Length != t.Stride.Length || t.Size.Any(s => s < 0) || t.Stride.Any(s => s < 0) || t.Offset < 0)
            throw new InvalidDataException($"{path}: tensor '{name}' has an invalid shape or stride");
        long last = t.Offset;
        bool empty = t.Size.Any(s => s == 0);
        for (int d = 0; d < t.Size.Length; d++) last = checked(last + (t.Size[d] - 1) * t.Stride[d]);
        if (!empty && last >= storage.shape[0])
            throw new InvalidDataException($"{path}: tensor '{name}' reaches element {last} of a storage of {storage.shape[0]}");
        using var view = storage.as_strided(t.Size, t.Stride, t.Offset);
        return view.clone();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var t in Tensors.Values) t.Dispose();
    }
}
