using System.Collections;
using Razorvine.Pickle;
using Razorvine.Pickle.Objects;
using static TorchSharp.torch;

namespace AssocConv.Interop;

/// <summary>A storage as a <c>torch.save</c> pickle declares it.</summary>
internal sealed record StorageRef(string Key, ScalarType DType, int ElementSize, long Numel, string TypeName);

/// <summary>A tensor as <c>torch._utils._rebuild_tensor_v2</c> describes it: a view of a storage.</summary>
internal sealed record TensorRef(StorageRef Storage, long Offset, long[] Size, long[] Stride);

/// <summary>
/// Razorvine's unpickler with the few constructors a state dict needs. A global outside the allow-list that
/// is called fails inside Razorvine (it only builds inert dictionaries, it never runs code); one that is only
/// referenced is refused when the object tree is walked.
/// </summary>
internal sealed class SafeUnpickler : Unpickler
{
    private static readonly object RegistrationLock = new();
    private static bool _registered;
    private readonly string _path;

    public Dictionary<string, StorageRef> Storages { get; } = new();

    /// <summary>Storage classes a pickle may name (as <c>torch.X</c> or <c>torch.cuda.X</c>), with their element type
    /// and size.</summary>
    internal static readonly Dictionary<string, (ScalarType Type, int Size)> StorageTypes = new()
    {
        ["FloatStorage"] = (ScalarType.Float32, 4),
        ["DoubleStorage"] = (ScalarType.Float64, 8),
        ["HalfStorage"] = (ScalarType.Float16, 2),
        ["BFloat16Storage"] = (ScalarType.BFloat16, 2),
        ["LongStorage"] = (ScalarType.Int64, 8),
        ["IntStorage"] = (ScalarType.Int32, 4),
        ["ShortStorage"] = (ScalarType.Int16, 2),
        ["CharStorage"] = (ScalarType.Int8, 1),
        ["ByteStorage"] = (ScalarType.Byte, 1),
        ["BoolStorage"] = (ScalarType.Bool, 1),
    };

    public SafeUnpickler(string path)
    {
        _path = path;
        lock (RegistrationLock)
        {
            if (_registered) return;
            registerConstructor("torch._utils", "_rebuild_tensor_v2", new RebuildTensor());
            registerConstructor("torch._utils", "_rebuild_tensor", new RebuildTensor());
            registerConstructor("collections", "OrderedDict", new OrderedDictConstructor());
            _registered = true;
        }
    }

    protected override object persistentLoad(object pid)
    {
        if (pid is not object[] { Length: >= 5 } t || t[0] as string != "storage")
            throw new InvalidDataException($"{_path}: unexpected persistent id in the pickle");
        if (t[1] is not ClassDictConstructor type || type.module is not ("torch" or "torch.cuda")
            || !StorageTypes.TryGetValue(type.name, out var info))
            throw new InvalidDataException($"{_path}: refuses storage type '{(t[1] as ClassDictConstructor)?.module}." +
                $"{(t[1] as ClassDictConstructor)?.name ?? t[1]?.ToString()}'");
        var key = t[2]?.ToString() ?? throw new InvalidDataException($"{_path}: a storage has no key");
        long numel = Convert.ToInt64(t[4]);
        if (numel < 0) throw new InvalidDataException($"{_path}: storage '{key}' declares {numel} elements");
        if (t.Length >= 6 && t[5] is not null)
            throw new InvalidDataException($"{_path}: storage '{key}' is a view of another storage (PyTorch before " +
                "0.4), which is not supported");
        var storage = new StorageRef(key, info.Type, info.Size, numel, $"{type.module}.{type.name}");
        if (Storages.TryGetValue(key, out var known))
        {
            if (known != storage) throw new InvalidDataException($"{_path}: storage '{key}' is declared " +
                "twice, differently");
            return known;
        }
        Storages[key] = storage;
        return storage;
    }

    private sealed class RebuildTensor : IObjectConstructor
    {
        public object construct(object[] args)
        {
            if (args.Length < 4 || args[0] is not StorageRef storage)
                throw new InvalidDataException("a tensor is rebuilt from something that is not a storage");
            static long[] Longs(object o) => ((IEnumerable)o).Cast<object>().Select(Convert.ToInt64).ToArray();
            return new TensorRef(storage, Convert.ToInt64(args[1]), Longs(args[2]), Longs(args[3]));
        }
    }

    private sealed class OrderedDictConstructor : IObjectConstructor
    {
        public object construct(object[] args) => new PickledDict();
    }
}

/// <summary>An unpickled <c>OrderedDict</c>; its attributes (a state dict's <c>_metadata</c>) are accepted and
/// dropped.</summary>
public sealed class PickledDict : Hashtable
{
    /// <summary>Called by the unpickler's BUILD opcode with the object's attributes.</summary>
    public void __setstate__(Hashtable state) { }
}
