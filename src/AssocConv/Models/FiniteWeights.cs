using static TorchSharp.torch;

namespace AssocConv.Models;

/// <summary>Refuses weights holding NaN or infinity: such a model predicts one class for everything and looks merely
/// inaccurate.</summary>
public static class FiniteWeights
{
    /// <summary>Throws naming the first floating-point tensor of <paramref name="tensors"/> that is not
    /// finite.</summary>
    /// <exception cref="InvalidDataException">A tensor holds NaN or an infinity; the message names <paramref
    /// name="source"/> and the tensor.</exception>
    public static void Check(string source, IEnumerable<KeyValuePair<string, Tensor>> tensors)
    {
        foreach (var (name, tensor) in tensors)
        {
            if (!tensor.is_floating_point()) continue;
            using var finite = tensor.isfinite().all();
            if (!finite.item<bool>()) throw new InvalidDataException($"{source}: weight '{name}' holds NaN or " +
                "infinite values");
        }
    }
}
