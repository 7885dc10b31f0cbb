using AssocConv.Csg;
using AssocConv.IO;
using AssocConv.Models;
using AssocConv.Native;
using TorchSharp;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace AssocConv.Training;

/// <summary>
/// A training checkpoint in one file: a magic line, the SHA-256 of everything after it, a JSON header (model,
/// data, recipe, progress, history) and the model's state dict, then optionally the optimiser's state. The
/// checksum covers the header too, so neither a damaged nor an edited file loads, and the header's fields are
/// checked for range before anything is built from them. Files are written to a temporary name and renamed
/// into place when complete, so a killed run never leaves a damaged checkpoint.
/// </summary>
public static class Checkpoint
{
    private const string Magic = "ASSOCCONV-CHECKPOINT 2\n";
    // version 1 (before the checksum covered the header): its payload's checksum is in the header
    private const string MagicVersion1 = "ASSOCCONV-CHECKPOINT 1\n";
    private const int ChecksumBytes = 32;

    /// <summary>
    /// Writes <paramref name="path"/> atomically: the weights of <paramref name="model"/> (what evaluation, export and
    /// prediction load), then, when given, the optimiser's state and the weights being trained when they differ from
    /// the model's (<paramref name="trainingWeights"/>: the raw weights behind a weight average).
    /// </summary>
    public static void Save(string path, JsonObject header, nn.Module model, TorchSharp.Modules.SGD? optimizer = null,
        nn.Module? trainingWeights = null) =>
        Save(path, header, writer => model.save(writer), optimizer, trainingWeights);

    private static void Save(string path, JsonObject header, Action<BinaryWriter> writeWeights,
        TorchSharp.Modules.SGD? optimizer, nn.Module? trainingWeights = null)
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
        header["has_optimizer"] = optimizer is not null;
        header["has_training_weights"] = trainingWeights is not null;
        var headerBytes = Encoding.UTF8.GetBytes(header.ToJsonString());
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var headerLength = BitConverter.GetBytes((long)headerBytes.Length);
        sha.AppendData(headerLength);
        sha.AppendData(headerBytes);
        sha.AppendData(bytes);
        var checksum = sha.GetHashAndReset();
        AtomicFile.Write(path, stream =>
        {
            stream.Write(Encoding.ASCII.GetBytes(Magic));
            stream.Write(checksum);
            stream.Write(headerLength);
            stream.Write(headerBytes);
            stream.Write(bytes);
        });
    }

    /// <summary>Whether <paramref name="path"/> starts like an AssocConv checkpoint (of any version).</summary>
    public static bool IsCheckpoint(string path)
    {
        var magic = Encoding.ASCII.GetBytes(Magic);
        if (RegularFile.Length(path) < magic.Length) return false;
        using var stream = File.OpenRead(RegularFile.Resolve(path).FullName);
        var start = new byte[magic.Length];
        return stream.Read(start) == magic.Length
            && (start.AsSpan().SequenceEqual(magic)
                || start.AsSpan().SequenceEqual(Encoding.ASCII.GetBytes(MagicVersion1)));
    }

    /// <summary>Reads a checkpoint's header and checks its payload without loading any weights.</summary>
    /// <exception cref="InvalidDataException">
    /// Not a checkpoint, truncated, altered, or describing a model out of range (the message says which).
    /// </exception>
    public static (JsonObject Header, byte[] Payload) Read(string path)
    {
        var bytes = RegularFile.ReadAllBytes(path);
        var magic = Encoding.ASCII.GetBytes(Magic);
        bool current = bytes.AsSpan().StartsWith(magic);
        if (!current && !bytes.AsSpan().StartsWith(Encoding.ASCII.GetBytes(MagicVersion1)))
            throw new InvalidDataException($"{path}: not an AssocConv checkpoint");
        long offset = magic.Length;
        if (current)
        {
            if (bytes.Length < offset + ChecksumBytes + 8) throw new InvalidDataException($"{path}: truncated");
            var body = bytes.AsSpan((int)offset + ChecksumBytes);
            if (!SHA256.HashData(body).AsSpan().SequenceEqual(bytes.AsSpan((int)offset, ChecksumBytes)))
                throw new InvalidDataException($"{path}: damaged or altered (its content does not match its SHA-256)");
            offset += ChecksumBytes;
        }
        if (bytes.Length < offset + 8) throw new InvalidDataException($"{path}: truncated");
        long headerLength = BitConverter.ToInt64(bytes, (int)offset);
        offset += 8;
        if (headerLength <= 0 || headerLength > bytes.Length - offset)
            throw new InvalidDataException($"{path}: truncated (header of {headerLength} bytes, " +
                $"{bytes.Length - offset} left)");
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
        long payloadLength = Field(path, () => (long?)header["payload_bytes"]) ?? -1;
        if (payloadLength != bytes.Length - offset)
            throw new InvalidDataException($"{path}: truncated or extended ({bytes.Length - offset:N0} payload " +
                $"bytes, the header says {payloadLength:N0})");
        var payload = bytes[(int)offset..];
        if (!current && Convert.ToHexString(SHA256.HashData(payload)) != Field(path,
            () => (string?)header["payload_sha256"]))
            throw new InvalidDataException($"{path}: altered (its weights do not match the checksum in its header)");
        // every field a model is built from, in range, before anything is allocated
        if (header["model"] is not JsonObject model) throw new InvalidDataException($"{path}: its header " +
            "describes no model");
        try
        {
            ModelSpec.FromJson(model);
        }
        catch (FormatException e)
        {
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }
        return (header, payload);
    }

    // a header field of the wrong JSON type is a damaged file, not a crash
    private static T Field<T>(string path, Func<T> read)
    {
        try
        {
            return read();
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{path}: damaged header ({e.Message})");
        }
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
        var model = ModelSpec.FromJson(header["model"]!).Build();
        ConvolutionGuard.Protect(model);
        try
        {
            LoadInto(payload, header, model);
            FiniteWeights.Check(path, model.state_dict());
        }
        catch
        {
            model.Dispose();
            throw;
        }
        return (header, model);
    }

    /// <summary>
    /// Loads the weights (and, when given and present, the optimiser state and the weights being trained) of a
    /// checkpoint's payload. A checkpoint without separate training weights loads its model's weights into
    /// <paramref name="trainingWeights"/> too.
    /// </summary>
    public static void LoadInto(byte[] payload, JsonObject header, nn.Module model,
        TorchSharp.Modules.SGD? optimizer = null, nn.Module? trainingWeights = null)
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
                throw new ArgumentException("the training weights follow the optimiser's state: pass the " +
                    "optimiser to load them");
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
