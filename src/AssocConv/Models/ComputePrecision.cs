namespace AssocConv.Models;

/// <summary>
/// The type a model's convolutions compute in. Weights, batch-norm, the classifier, the loss and the optimiser stay
/// float32 in both; see <see cref="MixedPrecision"/>.
/// </summary>
public enum ComputePrecision
{
    /// <summary>Everything in float32.</summary>
    Float32,

    /// <summary>Convolutions take bfloat16 inputs and kernels (8-bit mantissa, float32's range) and return
    /// float32.</summary>
    BFloat16,
}
