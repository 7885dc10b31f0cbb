using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AssocConv.Csg;

/// <summary>The groups a model's parameters are counted in.</summary>
public enum ParameterGroup
{
    /// <summary>The shared generator's weight, counted once however many layers use it.</summary>
    Generator,
    /// <summary>The code matrices of associative layers.</summary>
    Codes,
    /// <summary>Ordinary (not generated) convolution weights and biases.</summary>
    Convolution,
    /// <summary>Batch-norm weights and biases (running statistics are not parameters).</summary>
    BatchNorm,
    /// <summary>Fully connected layers.</summary>
    Linear,
    /// <summary>Anything else, including biases of associative layers.</summary>
    Other,
}

/// <summary>Trainable and frozen parameter counts of one group.</summary>
/// <param name="Trainable">Elements of parameters that require gradients.</param>
/// <param name="Frozen">Elements of parameters that do not.</param>
public readonly record struct GroupCount(long Trainable, long Frozen)
{
    /// <summary>Trainable plus frozen.</summary>
    public long Total => Trainable + Frozen;
}

/// <summary>
/// Parameters of a model by group, trainable vs frozen, and the comparison with its plain
/// counterpart (the same model with every associative layer an ordinary convolution).
/// </summary>
public sealed class ParameterReport
{
    /// <summary>Counts by group; every group is present.</summary>
    public IReadOnlyDictionary<ParameterGroup, GroupCount> Groups { get; }

    /// <summary>Elements of the batch-norm running statistics (buffers, not counted as parameters).</summary>
    public long RunningStatistics { get; }

    /// <summary>Number of associative layers.</summary>
    public int AssociativeLayers { get; }

    /// <summary>Number of distinct generators.</summary>
    public int Generators { get; }

    /// <summary>Trainable parameters of the plain counterpart.</summary>
    public long PlainTrainable { get; }

    /// <summary>Trainable parameters.</summary>
    public long Trainable => Groups.Values.Sum(g => g.Trainable);

    /// <summary>Frozen parameters.</summary>
    public long Frozen => Groups.Values.Sum(g => g.Frozen);

    /// <summary>All parameters.</summary>
    public long Total => Trainable + Frozen;

    /// <summary>Plain trainable parameters over this model's trainable parameters (the compression ratio).</summary>
    public double Ratio => Trainable == 0 ? double.PositiveInfinity : (double)PlainTrainable / Trainable;

    private ParameterReport(Dictionary<ParameterGroup, GroupCount> groups, long runningStatistics,
        int associativeLayers, int generators, long plainTrainable)
    {
        Groups = groups;
        RunningStatistics = runningStatistics;
        AssociativeLayers = associativeLayers;
        Generators = generators;
        PlainTrainable = plainTrainable;
    }

    /// <summary>Counts the parameters of <paramref name="model"/>; a parameter reachable from several places counts
    /// once.</summary>
    public static ParameterReport Of(nn.Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var counts = Enum.GetValues<ParameterGroup>().ToDictionary(g => g, _ => new GroupCount());
        var seen = new HashSet<Parameter>(ReferenceEqualityComparer.Instance);
        var seenBuffers = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        long runningStatistics = 0, plainTrainable = 0;
        int associativeLayers = 0;
        var generators = new HashSet<ConvolutionalSliceGenerator>(ReferenceEqualityComparer.Instance);

        // a module reachable along several paths is one module
        var modules = new[] { model }.Concat(model.named_modules().Select(m => m.module))
            .Distinct(ReferenceEqualityComparer.Instance).Cast<nn.Module>().ToList();
        // codes are known by identity: a block may register its layer's code under its own name
        var codes = new HashSet<Parameter>(modules.OfType<AssociativeConv2d>().Select(l => l.Code),
            ReferenceEqualityComparer.Instance);
        foreach (var module in modules)
        {
            if (module is AssociativeConv2d layer)
            {
                associativeLayers++;
                generators.Add(layer.Generator);
                // the plain counterpart trains the full kernel instead of codes and generator
                plainTrainable += layer.PlainKernelElements;
            }
            if (module is ConvolutionalSliceGenerator g) generators.Add(g);

            foreach (var (name, p) in module.named_parameters(recurse: false))
            {
                if (!seen.Add(p)) continue;
                var group = codes.Contains(p) ? ParameterGroup.Codes : Classify(module);
                Count(counts, group, p);
                if (p.requires_grad && group is not (ParameterGroup.Generator or ParameterGroup.Codes))
                    plainTrainable += p.numel();
            }
            if (module is BatchNorm1d or BatchNorm2d or BatchNorm3d)
            {
                foreach (var (name, b) in module.named_buffers(recurse: false))
                    if (name is "running_mean" or "running_var" && seenBuffers.Add(b)) runningStatistics += b.numel();
            }
        }
        // generators registered nowhere in the tree are still the model's
        foreach (var g in generators)
            if (seen.Add(g.Weight)) Count(counts, ParameterGroup.Generator, g.Weight);
        return new ParameterReport(counts, runningStatistics, associativeLayers, generators.Count, plainTrainable);
    }

    private static void Count(Dictionary<ParameterGroup, GroupCount> counts, ParameterGroup group, Parameter p)
    {
        var c = counts[group];
        counts[group] = p.requires_grad ? c with { Trainable = c.Trainable + p.numel() }
            : c with { Frozen = c.Frozen + p.numel() };
    }

    private static ParameterGroup Classify(nn.Module module) => module switch
    {
        ConvolutionalSliceGenerator => ParameterGroup.Generator,
        AssociativeConv2d => ParameterGroup.Other,
        Convolution => ParameterGroup.Convolution,
        BatchNorm1d or BatchNorm2d or BatchNorm3d => ParameterGroup.BatchNorm,
        Linear => ParameterGroup.Linear,
        _ => ParameterGroup.Other,
    };
}
