using AssocConv.Training;

namespace AssocConv.Tests.Training;

/// <summary>metrics.csv's columns, written and read back from one list: against the header that files already kept
/// (docs/measurements) were written with, and a row whose every number differs, so that a swapped column
/// shows.</summary>
public sealed class EpochMetricsTests
{
    // every number distinct, so a column read into another field cannot go unseen
    private static readonly EpochMetrics Distinct = new(7, 0.125, 1.5, 61.25, 1.75, 58.5, 1.875, 59.75, 212.5,
        236.25, 60.5);

    [Fact]
    public void The_header_is_the_one_kept_files_have()
    {
        const string Written = "epoch,lr,train_loss,train_acc,val_loss,val_acc,test_loss,test_acc,seconds," +
            "images_per_s,test_acc_flip";
        Assert.Equal(Written, EpochMetrics.CsvHeader);
        var kept = Path.Combine(TestSupport.RepositoryRoot(), "docs", "measurements", "resnet20-ablation",
            "cutout-8.csv");
        Assert.Equal(Written, File.ReadLines(kept).First());
        Assert.Equal(40, RunFolder.ReadMetrics(kept).Count);
    }

    [Fact]
    public void Every_column_names_its_own_field_in_csv_and_json()
    {
        Assert.Equal(Distinct, EpochMetrics.FromCsv(Distinct.ToCsv()));
        Assert.Equal(Distinct, EpochMetrics.FromJson(Distinct.ToJson()));
        var fields = Distinct.ToCsv().Split(',');
        var json = Distinct.ToJson();
        double[] expected = [Distinct.LearningRate, Distinct.TrainLoss, Distinct.TrainAccuracy,
            Distinct.ValidationLoss, Distinct.ValidationAccuracy, Distinct.TestLoss, Distinct.TestAccuracy,
            Distinct.Seconds, Distinct.ImagesPerSecond, Distinct.TestAccuracyFlip];
        Assert.Equal(expected.Length, EpochMetrics.Columns.Count);
        for (int i = 0; i < expected.Length; i++)
        {
            var column = EpochMetrics.Columns[i];
            Assert.Equal(expected[i], column.Value(Distinct));
            Assert.Equal(expected[i], double.Parse(fields[i + 1], System.Globalization.CultureInfo.InvariantCulture));
            Assert.Equal(expected[i], (double)json[column.Name]!);
        }
    }

    [Fact]
    public void Numbers_not_measured_are_empty_in_csv_and_null_in_json()
    {
        var without = Distinct with { ValidationLoss = double.NaN, ValidationAccuracy = double.NaN,
            TestAccuracyFlip = double.NaN };
        Assert.Equal("7,0.125,1.5,61.25,,,1.875,59.75,212.5,236.25,", without.ToCsv());
        Assert.Null(without.ToJson()["val_acc"]);
        Assert.Equal(without, EpochMetrics.FromCsv(without.ToCsv()));
        Assert.Equal(without, EpochMetrics.FromJson(without.ToJson()));
    }
}
