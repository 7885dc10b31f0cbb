using AssocConv.Csg;
using static TorchSharp.torch;

namespace AssocConv.Interop;

/// <summary>The tensors of a file that do not fit a model, listed (nothing is loaded when there is any).</summary>
public sealed class CheckpointMismatchException(string file, IReadOnlyList<string> problems)
    : Exception($"{file} does not fit the model:\n  " + string.Join("\n  ", problems))
{
    /// <summary>One line per missing, unexpected or misshapen tensor.</summary>
    public IReadOnlyList<string> Problems { get; } = problems;
}

/// <summary>Loads state dicts saved by the authors' PyTorch implementation into the zoo's models.</summary>
public static class ReferenceCheckpoint
{
    /// <summary>
    /// A reference name as our models spell it: without DataParallel's <c>module.</c> prefix, and with the
    /// generator's old name <c>CLG</c> as <c>CSG</c>.
    /// </summary>
    public static string Normalize(string name)
    {
        if (name.StartsWith("module.", StringComparison.Ordinal)) name = name["module.".Length..];
        var parts = name.Split('.');
        for (int i = 0; i < parts.Length - 1; i++) if (parts[i] == "CLG") parts[i] = "CSG";
        return string.Join('.', parts);
    }

    /// <summary>
    /// Copies <paramref name="file"/>'s state dict into <paramref name="model"/> (converting float16 and float64 to the
    /// model's type). The generator stored again under every block must equal the model-level one.
    /// </summary>
    /// <exception cref="CheckpointMismatchException">Tensors missing, unexpected or misshapen; the message lists them
    /// all.</exception>
    public static void LoadInto(nn.Module model, TorchFile file, string fileName)
    {
        Models.FiniteWeights.Check(fileName, file.StateDict);
        var target = model.state_dict();
        var source = new Dictionary<string, Tensor>();
        var problems = new List<string>();
        foreach (var (name, tensor) in file.StateDict)
        {
            var key = Normalize(name);
            if (!source.TryAdd(key, tensor)) problems.Add($"{name}: appears twice once names are normalised");
        }
        var copies = new List<(Tensor To, Tensor From)>();
        foreach (var (key, tensor) in source)
        {
            if (target.TryGetValue(key, out var to))
            {
                if (!to.shape.SequenceEqual(tensor.shape))
                    problems.Add($"{key}: the file has [{string.Join(", ", tensor.shape)}], the model " +
                        $"[{string.Join(", ", to.shape)}]");
                else copies.Add((to, tensor));
            }
            else if (key.EndsWith(".CSG.weight",
                StringComparison.Ordinal) && source.TryGetValue("CSG.weight", out var shared))
            {
                // the reference registers its one generator under every block too
                if (!shared.shape.SequenceEqual(tensor.shape) || !shared.allclose(tensor, rtol: 0, atol: 0))
                    problems.Add($"{key}: differs from CSG.weight, but the model has one generator");
            }
            else problems.Add($"{key}: in the file, not in the model");
        }
        foreach (var key in target.Keys)
            if (!source.ContainsKey(key) && !key.EndsWith("num_batches_tracked", StringComparison.Ordinal))
                problems.Add($"{key}: in the model, not in the file");
        if (problems.Count > 0) throw new CheckpointMismatchException(fileName,
            problems.OrderBy(p => p, StringComparer.Ordinal).ToList());
        using (no_grad())
            foreach (var (to, from) in copies) to.copy_(from.to(to.dtype));
        model.InvalidateKernels();
    }

    /// <summary>
    /// The model's state dict as the reference implementation names it: our names (which are the reference's),
    /// plus the generator again under every block that uses it (<c>stage_1.0.CSG.weight</c>, ...), because the
    /// reference's blocks register it too. <c>load_state_dict(strict=True)</c> of the reference classes accepts it.
    /// </summary>
    public static IReadOnlyList<(string Name, Tensor Tensor)> ReferenceStateDict(nn.Module model)
    {
        var entries = model.state_dict().Select(kv => (kv.Key, kv.Value)).ToList();
        var generator = entries.FirstOrDefault(e => e.Key == "CSG.weight").Value;
        if (generator is null) return entries;
        var paths = new Dictionary<nn.Module, string>(ReferenceEqualityComparer.Instance);
        foreach (var (name, module) in model.named_modules()) paths.TryAdd(module, name);
        var hosts = model.modules().OfType<AssociativeConv2d>()
            .Select(l => l.CodeHost?.Module).OfType<nn.Module>()
            .Select(h => paths.TryGetValue(h, out var p) ? p : "")
            .Where(p => p.Length > 0).Distinct().OrderBy(p => p, StringComparer.Ordinal);
        entries.AddRange(hosts.Select(h => ($"{h}.CSG.weight", generator)));
        return entries;
    }
}
