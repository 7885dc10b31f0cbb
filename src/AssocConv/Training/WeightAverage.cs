using AssocConv.Csg;
using static TorchSharp.torch;

namespace AssocConv.Training;

/// <summary>
/// An exponential moving average of a model's weights and batch-norm statistics, kept in a second model of the same
/// architecture (as timm's <c>ModelEmaV2</c>): after update t (1-based), every floating-point entry of the state is
/// <c>avg = d_t * avg + (1 - d_t) * current</c> with <c>d_t = min(decay, (1 + t) / (10 + t))</c>, so early updates,
/// when the average would mostly remember the initialisation, weigh the current weights more. Integer buffers (batch
/// counters) are copied.
/// </summary>
public sealed class WeightAverage : IDisposable
{
    private readonly nn.Module<Tensor, Tensor> _average;
    private readonly (Tensor Average, Tensor Current)[] _pairs;

    /// <summary>Starts the average at <paramref name="model"/>'s current state; <paramref name="average"/> is an empty
    /// model of the same architecture, owned from now on.</summary>
    /// <exception cref="ArgumentException">The two models' states differ in names or shapes.</exception>
    public WeightAverage(nn.Module model, nn.Module<Tensor, Tensor> average, double decay)
    {
        if (!(decay > 0 && decay < 1)) throw new ArgumentException($"the average's decay must be in (0, " +
            $"1), got {decay}");
        Decay = decay;
        _average = average;
        var current = model.state_dict();
        var mine = average.state_dict();
        if (!current.Keys.SequenceEqual(mine.Keys))
            throw new ArgumentException("the average's model has other parameters and buffers than the model averaged");
        _pairs = current.Keys.Select(k => (mine[k], current[k])).ToArray();
        foreach (var p in average.parameters()) p.requires_grad = false;
        average.eval();
        Restart();
    }

    /// <summary>Sets the average to the model's current state and the update count to 0.</summary>
    public void Restart()
    {
        using (no_grad())
            foreach (var (a, c) in _pairs) a.copy_(c);
        Updates = 0;
        _average.InvalidateKernels();
    }

    /// <summary>The decay asked for.</summary>
    public double Decay { get; }

    /// <summary>Updates done so far.</summary>
    public long Updates { get; set; }

    /// <summary>The model holding the average (evaluation mode, no gradients).</summary>
    public nn.Module<Tensor, Tensor> Model => _average;

    /// <summary>The decay the next update uses.</summary>
    public double NextDecay => Math.Min(Decay, (1.0 + Updates + 1) / (10.0 + Updates + 1));

    /// <summary>Moves the average towards the model's current state.</summary>
    public void Update()
    {
        double d = NextDecay;
        using (no_grad())
        {
            foreach (var (a, c) in _pairs)
            {
                if (a.is_floating_point()) a.lerp_(c, 1 - d);
                else a.copy_(c);
            }
        }
        Updates++;
        _average.InvalidateKernels();
    }

    /// <inheritdoc />
    public void Dispose() => _average.Dispose();
}
