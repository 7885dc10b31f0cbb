using System.Diagnostics;
using AssocConv.Data;
using AssocConv.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace AssocConv.Training;

/// <summary>What <see cref="Evaluator"/>'s <c>Evaluate</c> measured.</summary>
/// <param name="Samples">Images evaluated.</param>
/// <param name="Loss">Mean cross-entropy over the images.</param>
/// <param name="Accuracy">Percent classified right.</param>
/// <param name="PerClassAccuracy">Percent right per class (NaN for a class with no image).</param>
/// <param name="Confusion">Counts: row = true class, column = predicted class.</param>
/// <param name="ImagesPerSecond">Throughput of the evaluation.</param>
/// <param name="FlipAccuracy">Percent right when each image's logits are averaged with its mirror image's (NaN unless
/// asked for).</param>
public sealed record EvaluationResult(long Samples, double Loss, double Accuracy, double[] PerClassAccuracy,
    long[,] Confusion, double ImagesPerSecond, double FlipAccuracy = double.NaN);

/// <summary>Evaluates a classifier on a labelled set, in evaluation mode, without gradients.</summary>
public static class Evaluator
{
    /// <summary>
    /// Loss, accuracy, per-class accuracy and confusion matrix of <paramref name="model"/> on <paramref name="data"/>,
    /// with batches laid out as <paramref name="format"/> (channels-last: faster convolutions, same results up to
    /// rounding).
    /// With <paramref name="flip"/>, also the accuracy of horizontal-flip test-time augmentation (the mean of the
    /// logits
    /// of each image and its mirror image); loss, per-class accuracy and confusion stay those of the images as they
    /// are.
    /// </summary>
    public static EvaluationResult Evaluate(nn.Module<Tensor, Tensor> model, LabeledImages data,
        Normalization normalization,
        int batchSize = 256, Device? device = null, MemoryFormat format = MemoryFormat.ChannelsLast, bool flip = false)
    {
        bool wasTraining = model.training;
        model.eval();
        try
        {
            return Evaluate(model.call, data, normalization, batchSize, device, format, flip);
        }
        finally
        {
            if (wasTraining) model.train();
        }
    }

    /// <summary>The same measures for any classifier given as a function from a batch of normalised images to logits
    /// (a model on another runtime, such as an ONNX file on ONNX Runtime).</summary>
    public static EvaluationResult Evaluate(Func<Tensor, Tensor> logitsOf, LabeledImages data,
        Normalization normalization, int batchSize = 256, Device? device = null,
        MemoryFormat format = MemoryFormat.ChannelsLast, bool flip = false)
    {
        long flipCorrect = 0;
        int classes = data.ClassNames.Count;
        var confusion = new long[classes, classes];
        double lossSum = 0;
        var watch = Stopwatch.StartNew();
        var pipeline = new BatchPipeline(data, normalization, batchSize, shuffle: false, augment: false, seed: 0,
            device, format);
        using (no_grad())
        {
            foreach (var batch in pipeline.Epoch(0))
            {
                using var _ = batch;
                using var scope = NewDisposeScope();
                var logits = logitsOf(batch.Images);
                lossSum += nn.functional.cross_entropy(logits, batch.Labels, reduction: nn.Reduction.Sum).item<float>();
                var predicted = logits.argmax(1).cpu().data<long>().ToArray();
                var truth = batch.Labels.cpu().data<long>().ToArray();
                for (int i = 0; i < truth.Length; i++) confusion[truth[i], predicted[i]]++;
                if (flip)
                {
                    var both = logits + logitsOf(batch.Images.flip(3));
                    flipCorrect += both.argmax(1).eq(batch.Labels).sum().item<long>();
                }
            }
        }
        watch.Stop();
        long n = data.Count, correct = 0;
        var perClass = new double[classes];
        for (int c = 0; c < classes; c++)
        {
            long row = 0;
            for (int p = 0; p < classes; p++) row += confusion[c, p];
            correct += confusion[c, c];
            perClass[c] = row == 0 ? double.NaN : 100.0 * confusion[c, c] / row;
        }
        return new EvaluationResult(n, n == 0 ? double.NaN : lossSum / n, n == 0 ? double.NaN : 100.0 * correct / n,
            perClass, confusion, n / Math.Max(watch.Elapsed.TotalSeconds, 1e-9),
            flip && n > 0 ? 100.0 * flipCorrect / n : double.NaN);
    }
}
