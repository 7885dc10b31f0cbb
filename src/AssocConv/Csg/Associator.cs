using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AssocConv.Csg;

/// <summary>The method applied to any model: its ordinary convolutions replaced by associative ones sharing one
/// generator.</summary>
public static class Associator
{
    /// <summary>
    /// Replaces, in place, the selected <c>Conv2d</c>s of <paramref name="model"/> by
    /// <see cref="AssociativeConv2d"/>s with the same shape, stride, padding, dilation, groups and bias,
    /// all sharing one new generator, which is registered at the model's root as <paramref name="generatorName"/>.
    /// </summary>
    /// <param name="model">Any TorchSharp model; fields holding selected convolutions must be writable and typed to
    /// accept the replacement.</param>
    /// <param name="options">The generator's options.</param>
    /// <param name="select">Which convolutions; default <see cref="ConvSelect.AllButFirst"/>. A selected one whose
    /// kernel is larger than the slice's, or that pads in a way a plain convolution cannot express, stays ordinary and
    /// is reported.</param>
    /// <param name="init">Random, or from the current kernels by truncated SVD (<see
    /// cref="AssociateInit.FromWeights"/>).</param>
    /// <param name="generatorName">The generator's name at the root.</param>
    /// <exception cref="ArgumentException">The model already has a child called <paramref name="generatorName"/>,
    /// nothing
    /// could be replaced, or <see cref="AssociateInit.FromWeights"/> is asked of a binary generator.</exception>
    public static AssociationReport Associate(nn.Module model, GeneratorOptions options,
        Func<ConvCandidate, bool>? select = null, AssociateInit init = AssociateInit.Random,
            string generatorName = "CSG")
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        select ??= ConvSelect.AllButFirst;
        if (init == AssociateInit.FromWeights && options.Init == GeneratorInit.Binary)
            throw new ArgumentException("a binary generator is fixed at random signs; it cannot be fitted to the " +
                "model's weights");
        if (model.named_children().Any(c => c.name == generatorName))
            throw new ArgumentException($"the model already has a child called '{generatorName}'; pass " +
                "another generator name");

        var modules = model.named_modules().ToList();
        var byPath = modules.ToDictionary(m => m.name, m => m.module);
        var convs = modules.Where(m => m.module is Conv2d { transposed: false })
            .Select((m, i) => new ConvCandidate(m.name, i, (Conv2d)m.module)).ToList();

        long trainableBefore = ParameterReport.Of(model).Trainable;
        var generator = new ConvolutionalSliceGenerator(options, generatorName);
        var chosen = new List<(ConvCandidate Candidate, AssociativeConv2d Layer)>();
        var skipped = new List<SkippedConvolution>();
        foreach (var candidate in convs.Where(select))
        {
            var (layer, reason) = TryCreate(generator, candidate);
            if (layer is null) skipped.Add(new SkippedConvolution(candidate.Path, reason!));
            else chosen.Add((candidate, layer));
        }
        if (chosen.Count == 0)
        {
            generator.Dispose();
            throw new ArgumentException(
                $"no convolution could be made associative ({convs.Count} in the model, {skipped.Count} " +
                    "selected but skipped" +
                (skipped.Count > 0 ? $": {skipped[0].Path}: {skipped[0].Reason}" : "") + ")");
        }

        var weights = chosen[0].Candidate.Conv.weight!;
        generator.to(weights.device).to(weights.dtype);
        foreach (var (_, layer) in chosen) layer.to(weights.device).to(weights.dtype);
        double? overall = null;
        var errors = new double?[chosen.Count];
        if (init == AssociateInit.FromWeights) overall = FitToWeights(generator, chosen, errors);

        using (torch.no_grad())
        {
            foreach (var (candidate, layer) in chosen)
            {
                if (candidate.Conv.bias is { } bias) layer.Bias!.copy_(bias);
                if (!candidate.Conv.weight!.requires_grad) layer.Code.requires_grad = false;
                if (!candidate.Conv.training) layer.eval();
            }
        }
        var seen = new Dictionary<Conv2d, AssociativeConv2d>(ReferenceEqualityComparer.Instance);
        foreach (var (candidate, layer) in chosen) seen[candidate.Conv] = layer;
        // every place a replaced convolution is held, including a convolution shared by two parents
        foreach (var (parent, name, child) in ModuleSurgery.Edges(model).ToList())
            if (child is Conv2d conv && seen.TryGetValue(conv, out var replacement))
                ModuleSurgery.Replace(parent, name, replacement);
        model.register_module(generatorName, generator);
        foreach (var (candidate, _) in chosen) candidate.Conv.Dispose();

        var layers = chosen.Select((c, i) => new AssociatedLayer(c.Candidate.Path, c.Layer,
            c.Layer.PlainKernelElements, errors[i])).ToList();
        return new AssociationReport(generator, layers, skipped, trainableBefore,
            ParameterReport.Of(model).Trainable, overall);
    }

    private static (AssociativeConv2d? Layer,
        string? Reason) TryCreate(ConvolutionalSliceGenerator generator, ConvCandidate c)
    {
        var conv = c.Conv;
        var slice = generator.Slice;
        if (c.KernelSize.Height > slice.KernelHeight || c.KernelSize.Width > slice.KernelWidth)
            return (null,
                $"kernel {c.KernelSize.Height}x{c.KernelSize.Width} is larger than the slice's " +
                    $"{slice.KernelHeight}x{slice.KernelWidth}");
        if (conv.padding_mode != PaddingModes.Zeros)
            return (null, $"padding mode {conv.padding_mode} (only zero padding is supported)");
        long[] padding;
        switch (conv.padding_type)
        {
            case null:
                padding = conv.padding ?? new long[] { 0, 0 };
                break;
            case Padding.Valid:
                padding = new long[] { 0, 0 };
                break;
            default:   // 'same': expressible as symmetric padding only at stride 1 with an even total
                var total = new[] { conv.dilation[0] * (c.KernelSize.Height - 1),
                    conv.dilation[1] * (c.KernelSize.Width - 1) };
                if (conv.stride.Any(s => s != 1) || total.Any(t => t % 2 != 0))
                    return (null, "'same' padding that is not symmetric");
                padding = new[] { total[0] / 2, total[1] / 2 };
                break;
        }
        var layer = new AssociativeConv2d(generator, conv.in_channels, conv.out_channels,
            c.KernelSize, (conv.stride[0], conv.stride[1]), (padding[0], padding[1]),
            (conv.dilation[0], conv.dilation[1]), conv.groups, bias: conv.bias is not null, name: c.Path);
        return (layer, null);
    }

    /// <summary>
    /// Stacks every kernel's slices as rows of one matrix and takes its best rank-k factorisation (Eckart-Young):
    /// codes U_k S_k^(1/2), generator V_k S_k^(1/2). Code columns beyond the matrix's rank get small random values
    /// (with zero generator columns, so kernels are unchanged) so they are not stuck at a saddle when fine-tuning.
    /// </summary>
    private static double FitToWeights(ConvolutionalSliceGenerator generator,
        List<(ConvCandidate Candidate, AssociativeConv2d Layer)> chosen, double?[] errors)
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var weights = chosen[0].Candidate.Conv.weight!;
        var blocks = chosen.Select(c => c.Layer.SlicesOf(c.Candidate.Conv.weight!.detach().to(float64))).ToArray();
        var matrix = torch.cat(blocks, 0);                       // [all slices, slice elements]
        var (u, s, vh) = torch.linalg.svd(matrix, fullMatrices: false);
        long k = generator.CodeSize, rank = s.shape[0], kept = Math.Min(k, rank);
        var root = s.narrow(0, 0, kept).sqrt();
        var codes = torch.zeros(matrix.shape[0], k, dtype: float64);
        var genWeight = torch.zeros(matrix.shape[1], k, dtype: float64);
        codes.narrow(1, 0, kept).copy_(u.narrow(1, 0, kept) * root);
        genWeight.narrow(1, 0, kept).copy_((vh.narrow(0, 0, kept) * root.unsqueeze(1)).t());
        if (k > kept)
        {
            double scale = kept > 0 ? codes.narrow(1, 0, kept).pow(2).mean().sqrt().item<double>() : 1.0;
            codes.narrow(1, kept, k - kept).normal_(0, 1e-3 * Math.Max(scale, 1e-12));
        }
        generator.Weight.copy_(genWeight.to(weights.dtype, weights.device));
        long row = 0;
        for (int i = 0; i < chosen.Count; i++)
        {
            var layer = chosen[i].Layer;
            layer.Code.copy_(codes.narrow(0, row, layer.NumSlices).to(weights.dtype, weights.device));
            row += layer.NumSlices;
        }
        generator.InvalidateKernels();

        double squaredError = 0, squaredNorm = 0;
        for (int i = 0; i < chosen.Count; i++)
        {
            var original = chosen[i].Candidate.Conv.weight!.detach().to(float64);
            var generated = chosen[i].Layer.GenerateKernel().detach().to(float64);
            double error = (generated - original).pow(2).sum().item<double>();
            double norm = original.pow(2).sum().item<double>();
            errors[i] = norm == 0 ? (error == 0 ? 0 : double.PositiveInfinity) : Math.Sqrt(error / norm);
            squaredError += error;
            squaredNorm += norm;
        }
        return squaredNorm == 0 ? 0 : Math.Sqrt(squaredError / squaredNorm);
    }
}
