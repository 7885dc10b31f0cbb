using TorchSharp;
using static TorchSharp.torch;

namespace AssocConv.Distributed;

/// <summary>
/// Data-parallel training's exchange: every rank computes gradients on its share of the batch, then all of them hold
/// the average after one all-reduce over a single flat float32 buffer of the trainable parameters' gradients. An
/// associative model's buffer is its generator, codes and the few ordinary parameters, so it sends 1.5-5x fewer bytes
/// than its plain counterpart.
/// </summary>
public sealed class GradientAverager(MpiWorld world, nn.Module model)
{
    private readonly TorchSharp.Modules.Parameter[] _trainable =
        model.parameters().Where(p => p.requires_grad).ToArray();

    /// <summary>Values in the buffer (the trainable parameters).</summary>
    public long Count => _trainable.Sum(p => p.numel());

    /// <summary>Bytes of the buffer each rank contributes per step (a ring all-reduce moves 2(N-1)/N of them in and
    /// out of each rank).</summary>
    public long Bytes => 4 * Count;

    /// <summary>Replaces every trainable parameter's gradient by its mean over the ranks (a missing gradient counts
    /// as zeros).</summary>
    public void Average() => Reduce(1f / world.Size);

    /// <summary>Replaces every trainable parameter's gradient by its sum over the ranks (for losses each rank already
    /// divided by the global batch size).</summary>
    public void Sum() => Reduce(1f);

    private void Reduce(float scale)
    {
        var values = Flatten(_trainable.Select(p => p.grad ?? zeros_like(p)));
        world.SumInPlace(values);
        if (scale != 1f)
            for (int i = 0; i < values.Length; i++) values[i] *= scale;
        Unflatten(values, _trainable.Select(p => p.grad ?? (p.grad = zeros_like(p))));
    }

    /// <summary>Copies rank 0's parameters and floating-point buffers (batch-norm statistics) to every rank, so that
    /// all start equal.</summary>
    public static void BroadcastState(MpiWorld world, nn.Module model)
    {
        var tensors = State(model);
        var values = Flatten(tensors);
        world.Broadcast(values);
        Unflatten(values, tensors);
    }

    /// <summary>Whether every rank holds exactly rank 0's parameters, bit for bit (batch-norm's running statistics
    /// are each rank's own, from its own images).</summary>
    public static bool ParametersIdentical(MpiWorld world, nn.Module model) =>
        RanksDiffering(world, model).Count == 0;

    /// <summary>The ranks whose parameters differ from rank 0's in any bit (every rank gets the same list).</summary>
    public static IReadOnlyList<int> RanksDiffering(MpiWorld world, nn.Module model)
    {
        var mine = Flatten(model.parameters());
        var root = (float[])mine.Clone();
        world.Broadcast(root);
        var differing = new double[world.Size];
        for (int i = 0; i < mine.Length; i++)
            if (BitConverter.SingleToInt32Bits(mine[i]) != BitConverter.SingleToInt32Bits(root[i]))
                differing[world.Rank]++;
        world.SumInPlace(differing);
        return Enumerable.Range(0, world.Size).Where(r => differing[r] > 0).ToArray();
    }

    private static Tensor[] State(nn.Module model) =>
        model.parameters().Cast<Tensor>().Concat(model.buffers().Where(b => b.is_floating_point())).ToArray();

    private static float[] Flatten(IEnumerable<Tensor> tensors)
    {
        using var scope = NewDisposeScope();
        var parts = tensors.Select(t => t.detach().to(float32).cpu().flatten()).ToArray();
        return parts.Length == 0 ? [] : cat(parts).data<float>().ToArray();
    }

    private static void Unflatten(float[] values, IEnumerable<Tensor> tensors)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        long offset = 0;
        using var all = tensor(values);
        foreach (var t in tensors)
        {
            long n = t.numel();
            t.copy_(all.narrow(0, offset, n).view(t.shape));
            offset += n;
        }
    }
}
