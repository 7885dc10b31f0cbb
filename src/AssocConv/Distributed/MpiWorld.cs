namespace AssocConv.Distributed;

/// <summary>
/// The processes <c>mpirun</c> started (Open MPI's <c>MPI_COMM_WORLD</c>): this one's rank, their number, and the
/// collective operations data-parallel training uses. One per process; disposing it finalises MPI.
/// </summary>
public sealed class MpiWorld : IDisposable
{
    private static MpiWorld? _current;
    private bool _disposed;

    private MpiWorld(int rank, int size) => (Rank, Size) = (rank, size);

    /// <summary>Whether this process was started by Open MPI's <c>mpirun</c>.</summary>
    public static bool IsLaunched => LaunchedSize is not null;

    /// <summary>How many processes mpirun started, read before MPI starts (null when not under mpirun).</summary>
    public static int? LaunchedSize =>
        int.TryParse(Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_SIZE"), out int size) ? size : null;

    /// <summary>This process's rank among those mpirun started, read before MPI starts (null when not under
    /// mpirun).</summary>
    public static int? LaunchedRank =>
        int.TryParse(Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_RANK"), out int rank) ? rank : null;

    /// <summary>Initialises MPI (once per process; a process not started by mpirun is a world of one).</summary>
    /// <exception cref="DllNotFoundException">Open MPI is not installed.</exception>
    public static MpiWorld Start()
    {
        if (_current is { _disposed: false } current) return current;
        if (_current is not null) throw new InvalidOperationException("MPI was finalised; it cannot start again");
        Check(OpenMpi.InitThread(IntPtr.Zero, IntPtr.Zero, 0, out _), "MPI_Init_thread");
        Check(OpenMpi.CommRank(OpenMpi.CommWorld, out int rank), "MPI_Comm_rank");
        Check(OpenMpi.CommSize(OpenMpi.CommWorld, out int size), "MPI_Comm_size");
        return _current = new MpiWorld(rank, size);
    }

    /// <summary>This process's rank, 0 to <see cref="Size"/> - 1.</summary>
    public int Rank { get; }

    /// <summary>How many processes train together.</summary>
    public int Size { get; }

    /// <summary>Rank 0, the one that writes files and prints.</summary>
    public bool IsRoot => Rank == 0;

    /// <summary>Replaces <paramref name="values"/> on every rank by their sum over the ranks.</summary>
    public unsafe void SumInPlace(Span<float> values)
    {
        fixed (float* p = values)
            Check(OpenMpi.Allreduce(OpenMpi.InPlace, (IntPtr)p, values.Length, OpenMpi.Float, OpenMpi.Sum,
                OpenMpi.CommWorld), "MPI_Allreduce");
    }

    /// <inheritdoc cref="SumInPlace(Span{float})"/>
    public unsafe void SumInPlace(Span<double> values)
    {
        fixed (double* p = values)
            Check(OpenMpi.Allreduce(OpenMpi.InPlace, (IntPtr)p, values.Length, OpenMpi.Double, OpenMpi.Sum,
                OpenMpi.CommWorld), "MPI_Allreduce");
    }

    /// <summary>Replaces <paramref name="values"/> on every rank by their maximum over the ranks.</summary>
    public unsafe void MaxInPlace(Span<double> values)
    {
        fixed (double* p = values)
            Check(OpenMpi.Allreduce(OpenMpi.InPlace, (IntPtr)p, values.Length, OpenMpi.Double, OpenMpi.Max,
                OpenMpi.CommWorld), "MPI_Allreduce");
    }

    /// <summary>Copies <paramref name="values"/> of rank <paramref name="root"/> to every rank.</summary>
    public unsafe void Broadcast(Span<float> values, int root = 0)
    {
        fixed (float* p = values)
            Check(OpenMpi.Bcast((IntPtr)p, values.Length, OpenMpi.Float, root, OpenMpi.CommWorld), "MPI_Bcast");
    }

    /// <summary>Waits until every rank arrives.</summary>
    public void Barrier() => Check(OpenMpi.Barrier(OpenMpi.CommWorld), "MPI_Barrier");

    /// <summary>Ends every rank at once with <paramref name="code"/> (after an error a collective could not
    /// survive).</summary>
    public void Abort(int code) => OpenMpi.Abort(OpenMpi.CommWorld, code);

    private static void Check(int code, string call)
    {
        if (code != 0) throw new InvalidOperationException($"{call} failed with MPI error {code}");
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        OpenMpi.Finalize();
    }
}
