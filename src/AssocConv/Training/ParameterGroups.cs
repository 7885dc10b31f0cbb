using AssocConv.Csg;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AssocConv.Training;

/// <summary>What a parameter is, for per-group learning rates and weight decay.</summary>
public enum ParameterGroupKind
{
    /// <summary>Weights of ordinary convolutions and linear layers.</summary>
    Weights,
    /// <summary>The generator's weight.</summary>
    Generator,
    /// <summary>The associative layers' codes.</summary>
    Codes,
    /// <summary>Batch-norm (and other normalisation) weights and biases.</summary>
    Norm,
    /// <summary>Biases outside normalisation layers.</summary>
    Bias,
}

/// <summary>Sorts a model's parameters into <see cref="ParameterGroupKind"/>s and builds the optimiser over
/// them.</summary>
public static class ParameterGroups
{
    /// <summary>Every parameter of <paramref name="model"/> (frozen ones too), in registration order, with its
    /// kind.</summary>
    public static IReadOnlyList<(string Name, Parameter Parameter, ParameterGroupKind Kind)> Classify(nn.Module model)
    {
        var generators = new HashSet<IntPtr>();
        var codes = new HashSet<IntPtr>();
        var norms = new HashSet<IntPtr>();
        foreach (var module in model.modules().Prepend(model))
        {
            switch (module)
            {
                case ConvolutionalSliceGenerator g: generators.Add(g.Weight.Handle); break;
                case AssociativeConv2d layer: codes.Add(layer.Code.Handle); break;
                case BatchNorm1d or BatchNorm2d or BatchNorm3d or GroupNorm or LayerNorm or InstanceNorm2d:
                    foreach (var p in module.parameters(recurse: false)) norms.Add(p.Handle);
                    break;
            }
        }
        return model.named_parameters().Select(np =>
        {
            var h = np.parameter.Handle;
            var kind = generators.Contains(h) ? ParameterGroupKind.Generator
                : codes.Contains(h) ? ParameterGroupKind.Codes
                : norms.Contains(h) ? ParameterGroupKind.Norm
                : np.name.EndsWith("bias", StringComparison.Ordinal) ? ParameterGroupKind.Bias
                : ParameterGroupKind.Weights;
            return (np.name, np.parameter, kind);
        }).ToList();
    }

    /// <summary>The peak learning rate and weight decay <paramref name="options"/> give a kind of parameter.</summary>
    public static (double LearningRate,
        double WeightDecay) Settings(TrainingOptions options, ParameterGroupKind kind) => kind switch
    {
        ParameterGroupKind.Generator => (options.GeneratorLearningRate ?? options.LearningRate,
            options.GeneratorWeightDecay ?? options.WeightDecay),
        ParameterGroupKind.Codes => (options.CodeLearningRate ?? options.LearningRate,
            options.CodeWeightDecay ?? options.WeightDecay),
        ParameterGroupKind.Norm => (options.LearningRate, options.NormWeightDecay ?? options.WeightDecay),
        ParameterGroupKind.Bias => (options.LearningRate, options.BiasWeightDecay ?? options.WeightDecay),
        _ => (options.LearningRate, options.WeightDecay),
    };

    /// <summary>
    /// SGD over every parameter of <paramref name="model"/>, frozen ones too (they get no gradient, so SGD leaves them
    /// alone, and the optimiser's state lines up the same whether a run starts or resumes). One group when no kind has
    /// settings of its own (the reference recipe), else one group per kind present, in <see cref="ParameterGroupKind"/>
    /// order. Returns each group's peak learning rate, for the schedule to scale, and its kind (null for the one
    /// group).
    /// </summary>
    public static (SGD Optimizer, double[] PeakRates,
        ParameterGroupKind?[] Kinds) BuildOptimizer(nn.Module model, TrainingOptions options)
    {
        if (!options.HasGroupSettings)
        {
            var single = optim.SGD(model.parameters(), options.LearningRate, momentum: options.Momentum,
                weight_decay: options.WeightDecay, nesterov: options.Nesterov);
            return (single, [options.LearningRate], [null]);
        }
        var classified = Classify(model);
        var groups = new List<SGD.ParamGroup>();
        var rates = new List<double>();
        var kinds = new List<ParameterGroupKind?>();
        foreach (var kind in Enum.GetValues<ParameterGroupKind>())
        {
            var members = classified.Where(c => c.Kind == kind).Select(c => c.Parameter).ToList();
            if (members.Count == 0) continue;
            var (lr, decay) = Settings(options, kind);
            groups.Add(new SGD.ParamGroup(members, lr, options.Momentum, 0, decay, options.Nesterov, false));
            rates.Add(lr);
            kinds.Add(kind);
        }
        return (optim.SGD(groups, options.LearningRate, options.Momentum, 0, options.WeightDecay, options.Nesterov,
            false), rates.ToArray(), kinds.ToArray());
    }
}
