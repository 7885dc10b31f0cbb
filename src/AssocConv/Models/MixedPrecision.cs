using AssocConv.Csg;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AssocConv.Models;

/// <summary>
/// Sets the type a model's convolutions compute in. TorchSharp 0.107 has no autocast, so this does for convolutions
/// what PyTorch's CPU autocast does: they compute in bfloat16 (oneDNN's AVX512-BF16 kernels where the CPU has them)
/// while weights, batch-norm, the classifier, the loss, gradients and the optimiser stay float32. Ordinary
/// convolutions are replaced in place by <see cref="LowPrecisionConv2d"/>s holding the same parameters; associative
/// ones round their generated kernel (<see cref="AssociativeConv2d.ComputeType"/>).
/// </summary>
public static class MixedPrecision
{
    /// <summary>The names <see cref="Parse"/> accepts, as the CLI and <c>config.json</c> write them.</summary>
    public const string Float32Name = "float32", BFloat16Name = "bf16";

    /// <summary>Makes every convolution of <paramref name="model"/> compute in <paramref name="precision"/> (float32
    /// undoes it).</summary>
    /// <exception cref="NotSupportedException">A convolution cannot compute in bfloat16 (named by its path in the
    /// model).</exception>
    public static void Apply(nn.Module model, ComputePrecision precision)
    {
        ScalarType? type = precision == ComputePrecision.BFloat16 ? ScalarType.BFloat16 : null;
        if (type is not null)
        {
            if (model is Conv2d)
                throw new NotSupportedException("the model is a bare convolution, which cannot be replaced in place; " +
                    "use LowPrecisionConv2d");
            foreach (var (path, module) in model.named_modules())
                if (module is Conv2d conv && !LowPrecisionConv2d.CanStandIn(conv))
                    throw new NotSupportedException($"{path}: this convolution cannot compute in bfloat16 (only " +
                        "zero-padded ones can)");
        }
        foreach (var associative in model.modules().Prepend(model).OfType<AssociativeConv2d>())
            associative.ComputeType = type;
        foreach (var (parent, name, child) in ModuleSurgery.Edges(model).ToList())
        {
            if (child is Conv2d conv && type is { } t)
                ModuleSurgery.Replace(parent, name, new LowPrecisionConv2d(conv, t));
            else if (child is LowPrecisionConv2d low && type is null)
                ModuleSurgery.Replace(parent, name, low.Original);
        }
    }

    /// <summary>Parses <c>float32</c> (or <c>fp32</c>) and <c>bf16</c> (or <c>bfloat16</c>).</summary>
    /// <exception cref="ArgumentException">Neither.</exception>
    public static ComputePrecision Parse(string name) => name.Trim().ToLowerInvariant() switch
    {
        Float32Name or "fp32" => ComputePrecision.Float32,
        BFloat16Name or "bfloat16" => ComputePrecision.BFloat16,
        _ => throw new ArgumentException($"'{name}' is not a precision; use {Float32Name} or {BFloat16Name}"),
    };

    /// <summary>The name <see cref="Parse"/> reads back.</summary>
    public static string Name(this ComputePrecision precision) =>
        precision == ComputePrecision.BFloat16 ? BFloat16Name : Float32Name;
}
