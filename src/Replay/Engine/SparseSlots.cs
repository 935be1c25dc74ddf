using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Pipeline.Replay;

/// <summary>
/// The 512 entries of an upper-level page table (PGD, P4D, PUD, PMD), stored in chunks of 32 that exist only while
/// one of their entries is set. A process uses a handful of the 512 entries of each such table (its text and heap
/// low, its libraries and stack high), and a trace keeps the tables of every process it never shows exiting until
/// it ends: at 4 KiB per table, both the lowering's shadow and the engine's copy grew with the trace
/// (docs/benchmarks.md, "Replay, 2026-12-06 (s26)" and "(s27)"). An unset entry reads as <c>default</c>.
/// </summary>
internal sealed class SparseSlots<T>
{
    private const int ChunkBits = 5;
    private const int ChunkSize = 1 << ChunkBits;
    private const int ChunkMask = ChunkSize - 1;
    public const int Length = 512;

    // Chunks with no entry set share one array of defaults, so a read needs no null test; it is never written.
    private static readonly T[] s_unset = new T[ChunkSize];
    private readonly T[][] _chunks = NewChunks();

    private static T[][] NewChunks()
    {
        var chunks = new T[Length / ChunkSize][];
        Array.Fill(chunks, s_unset);
        return chunks;
    }

    public T this[int idx]
    {
        // The chunk index is bounds-checked (an index outside 0..511 throws); within a chunk of 32 it cannot be out.
        get => Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_chunks[idx >> ChunkBits]), idx & ChunkMask);
        set
        {
            ref var chunk = ref _chunks[idx >> ChunkBits];
            if (EqualityComparer<T>.Default.Equals(value, default))
            {
                if (ReferenceEquals(chunk, s_unset))
                {
                    return;
                }
                chunk[idx & ChunkMask] = value;
                // A chunk whose entries are all unset again goes, so emptied tables shrink back.
                foreach (var e in chunk)
                {
                    if (!EqualityComparer<T>.Default.Equals(e, default))
                    {
                        return;
                    }
                }
                chunk = s_unset;
                return;
            }
            if (ReferenceEquals(chunk, s_unset))
            {
                chunk = new T[ChunkSize];
            }
            chunk[idx & ChunkMask] = value;
        }
    }

    /// <summary>Whether no entry is set.</summary>
    public bool IsEmpty => Array.TrueForAll(_chunks, c => ReferenceEquals(c, s_unset));

    /// <summary>An independent copy (the explorer forks engines and changes the copies).</summary>
    public SparseSlots<T> Clone()
    {
        var copy = new SparseSlots<T>();
        for (int i = 0; i < _chunks.Length; i++)
        {
            copy._chunks[i] = ReferenceEquals(_chunks[i], s_unset) ? s_unset : (T[])_chunks[i].Clone();
        }
        return copy;
    }
}
