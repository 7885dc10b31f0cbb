using AssocConv.Csg;
using TorchSharp;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace AssocConv.Training;

/// <summary>
/// A training checkpoint in one file: a JSON header (model, data, recipe, progress, history) and the
/// model's state dict, then optionally the optimiser's state. The header records the payload's length
/// and SHA-256, so a truncated or altered file is refused. Files are written to a temporary name and
/// renamed into place when complete, so a killed run never leaves a damaged checkpoint.
/// </summary>
public static class Checkpoint
{
    private const string Magic = "ASSOCCONV-CHECKPOINT 1\n";

    /// <summary>
    /// Writes <paramref name="path"/> atomically: the weights of <paramref name="model"/> (what evaluation, export and
    /// prediction load), then, when given, the optimiser's state and the weights being trained when they differ from
    /// the model's (<paramref name="trainingWeights"/>: the raw weights behind a weight average).
    /// </summary>
    public static void Save(string path, JsonObject header, nn.Module model, TorchSharp.Modules.SGD? optimizer = null,
        nn.Module? trainingWeights = null) =>
        Save(path, header, writer => model.save(writer), optimizer, trainingWeights);

    private static void Save(string path, JsonObject header, Action<BinaryWriter> writeWeights, TorchSharp.Modules.SGD? optimizer,
        nn.Module? trainingWeights = null)
    {
        using var payload = new MemoryStream();
        using (var writer = new BinaryWriter(payload, Encoding.UTF8, leaveOpen: true))
        {
            writeWeights(writer);
            if (optimizer is not null) optimizer.save_state_dict(writer);
            trainingWeights?.save(writer);
        }
        var bytes = payload.ToArray();
        header = (JsonObject)header.DeepClone();
        header["payload_bytes"] = bytes.LongLength;
        header["payload_sha256"] = Convert.ToHexString(SHA256.HashData(bytes));
        header["has_optimizer"] = optimizer is not null;
        header["has_training_weights"] = trainingWeights is not null;
        var headerBytes = Encoding.UTF8.GetBytes(header.ToJsonString());
        AtomicFile.Write(path, stream =>
        {
            stream.Write(Encoding.ASCII.GetBytes(Magic));
            stream.Write(BitConverter.GetBytes((long)headerBytes.Length));
            stream.Write(headerBytes);
            stream.Write(bytes);
        });
    }

    /// <summary>Whether <paramref name="path"/> starts like an AssocConv checkpoint.</summary>
    public static bool IsCheckpoint(string path)
    {
        var magic = Encoding.ASCII.GetBytes(Magic);
        using var stream = File.OpenRead(path);
        var start = new byte[magic.Length];
        return stream.Read(start) == magic.Length && start.AsSpan().SequenceEqual(magic);
    }

    /// <summary>Reads a checkpoint's header and checks its payload without loading any weights.</summary>
    /// <exception cref="InvalidDataException">Not a checkpoint, truncated, or altered (the message says which).</exception>
    public static (JsonObject Header, byte[] Payload) Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"no checkpoint at {path}", path);
        var bytes = File.ReadAllBytes(path);
        var magic = Encoding.ASCII.GetBytes(Magic);
        if (bytes.Length < magic.Length + 8 || !bytes.AsSpan(0, magic.Length).SequenceEqual(magic))
            throw new InvalidDataException($"{path}: not an AssocConv checkpoint");
        long headerLength = BitConverter.ToInt64(bytes, magic.Length);
        long offset = magic.Length + 8;
        if (headerLength <= 0 || headerLength > bytes.Length - offset)
            throw new InvalidDataException($"{path}: truncated (header of {headerLength} bytes, {bytes.Length - offset} left)");
        JsonObject header;
        try
        {
            header = JsonNode.Parse(bytes.AsSpan((int)offset, (int)headerLength))!.AsObject();
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException)
        {
            throw new InvalidDataException($"{path}: damaged header ({e.Message})");
        }
        offset += headerLength;
        long payloadLength = (long?)header["payload_bytes"] ?? -1;
        if (payloadLength != bytes.Length - offset)
            throw new InvalidDataException($"{path}: truncated or extended ({bytes.Length - offset:N0} payload bytes, the header says {payloadLength:N0})");
        var payload = bytes[(int)offset..];
        if (Convert.ToHexString(SHA256.HashData(payload)) != (string?)header["payload_sha256"])
            throw new InvalidDataException($"{path}: altered (its weights do not match the checksum in its header)");
        return (header, payload);
    }

    /// <summary>
    /// Writes the compact form of <paramref name="model"/>: the header and the weights only (generator, codes,
    /// ordinary convolutions, batch-norm, classifier), with floating-point tensors stored as float16 when
    /// <paramref name="halfPrecision"/>. The model itself is left as it was.
    /// </summary>
    public static void SaveCompact(string path, JsonObject header, nn.Module model, bool halfPrecision)
    {
        header = (JsonObject)header.DeepClone();
        header["storage_dtype"] = halfPrecision ? "float16" : "float32";
        if (!halfPrecision)
        {
            Save(path, header, model);
            return;
        }
        // half-precision copies of the floating-point tensors; the model keeps its own
        using var scope = torch.NewDisposeScope();
        var state = model.state_dict().ToDictionary(kv => kv.Key,
            kv => kv.Value.is_floating_point() ? kv.Value.detach().to(ScalarType.Float16) : kv.Value);
        Save(path, header, writer => nn.Module.save_state_dict(writer, state), optimizer: null);
    }

    /// <summary>Reads a checkpoint, rebuilds the model its header describes and loads its weights into it.</summary>
    /// <exception cref="InvalidDataException">Not a checkpoint, truncated or altered.</exception>
    public static (JsonObject Header, nn.Module<Tensor, Tensor> Model) LoadModel(string path)
    {
        var (header, payload) = Read(path);
        var model = Models.ModelSpec.FromJson(header["model"]!).Build();
        LoadInto(payload, header, model);
        return (header, model);
    }

    /// <summary>
    /// Loads the weights (and, when given and present, the optimiser state and the weights being trained) of a
    /// checkpoint's payload. A checkpoint without separate training weights loads its model's weights into
    /// <paramref name="trainingWeights"/> too.
    /// </summary>
    public static void LoadInto(byte[] payload, JsonObject header, nn.Module model, TorchSharp.Modules.SGD? optimizer = null,
        nn.Module? trainingWeights = null)
    {
        using var reader = new BinaryReader(new MemoryStream(payload), Encoding.UTF8);
        if ((string?)header["storage_dtype"] == "float16")
        {
            // stored in half precision: load as such, compute in float32
            model.half();
            model.load(reader, strict: true);
            model.@float();
            model.InvalidateKernels();
            return;
        }
        model.load(reader, strict: true);
        bool hasOptimizer = (bool?)header["has_optimizer"] == true;
        if (optimizer is not null && hasOptimizer) optimizer.load_state_dict(reader);
        if (trainingWeights is null) return;
        if ((bool?)header["has_training_weights"] == true)
        {
            if (optimizer is null && hasOptimizer)
                throw new ArgumentException("the training weights follow the optimiser's state: pass the optimiser to load them");
            trainingWeights.load(reader, strict: true);
        }
        else
        {
            reader.BaseStream.Position = 0;
            trainingWeights.load(reader, strict: true);
        }
        trainingWeights.InvalidateKernels();
    }
}

/// <summary>Writes files so that readers see the old content or the new, never a part.</summary>
public static class AtomicFile
{
    /// <summary>Writes through <paramref name="write"/> to a temporary file beside <paramref name="path"/>, flushes it to disk, and renames it over <paramref name="path"/>.</summary>
    public static void Write(string path, Action<Stream> write)
    {
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var temp = $"{full}.{Environment.ProcessId}.tmp";
        try
        {
            using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    /// <summary>Writes <paramref name="text"/> atomically.</summary>
    public static void WriteText(string path, string text) => Write(path, s => s.Write(Encoding.UTF8.GetBytes(text)));
}
