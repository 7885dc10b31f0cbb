using TorchSharp;

namespace AssocConv.Training;

/// <summary>Writes each epoch's metrics as TensorBoard scalars (TorchSharp's event-file writer).</summary>
internal sealed class TensorBoardLog : IDisposable
{
    private readonly TorchSharp.Modules.SummaryWriter _writer;

    public TensorBoardLog(string folder)
    {
        Directory.CreateDirectory(folder);
        _writer = torch.utils.tensorboard.SummaryWriter(folder, createRunName: false);
    }

    public void Add(EpochMetrics m)
    {
        void Scalar(string tag, double value)
        {
            if (double.IsFinite(value)) _writer.add_scalar(tag, (float)value, m.Epoch);
        }
        Scalar("loss/train", m.TrainLoss);
        Scalar("loss/validation", m.ValidationLoss);
        Scalar("loss/test", m.TestLoss);
        Scalar("accuracy/train", m.TrainAccuracy);
        Scalar("accuracy/validation", m.ValidationAccuracy);
        Scalar("accuracy/test", m.TestAccuracy);
        Scalar("lr", m.LearningRate);
        Scalar("images_per_s", m.ImagesPerSecond);
    }

    public void Dispose() { }
}
