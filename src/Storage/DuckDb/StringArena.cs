using System.Runtime.InteropServices;

namespace Pipeline.Storage.DuckDb;

/// <summary>
/// Native memory for the bytes of strings longer than 12 bytes that a data chunk points at. DuckDB copies
/// string data out of a chunk during <c>duckdb_append_data_chunk</c> (the caller may destroy the chunk right
/// after), so the appender writes <c>duckdb_string_t</c> entries pointing here instead of calling
/// <c>duckdb_vector_assign_string_element_len</c> per value, and resets the arena after each chunk.
/// </summary>
internal sealed unsafe class StringArena : IDisposable
{
    private const int BlockSize = 256 * 1024;

    private readonly List<IntPtr> _spent = [];
    private byte* _block;
    private int _used;
    private int _capacity;

    /// <summary>Copies <paramref name="utf8"/> into the arena; valid until <see cref="Reset"/>.</summary>
    public byte* Copy(ReadOnlySpan<byte> utf8)
    {
        if (_capacity - _used < utf8.Length)
        {
            Grow(utf8.Length);
        }
        byte* target = _block + _used;
        utf8.CopyTo(new Span<byte>(target, utf8.Length));
        _used += utf8.Length;
        return target;
    }

    /// <summary>Forgets every string (keeps one standard block for reuse).</summary>
    public void Reset()
    {
        foreach (IntPtr block in _spent)
        {
            NativeMemory.Free((void*)block);
        }
        _spent.Clear();
        if (_capacity > BlockSize)
        {
            NativeMemory.Free(_block);
            _block = null;
            _capacity = 0;
        }
        _used = 0;
    }

    public void Dispose()
    {
        Reset();
        if (_block is not null)
        {
            NativeMemory.Free(_block);
            _block = null;
            _capacity = 0;
        }
    }

    private void Grow(int needed)
    {
        if (_block is not null)
        {
            _spent.Add((IntPtr)_block);
        }
        _capacity = Math.Max(BlockSize, needed);
        _block = (byte*)NativeMemory.Alloc((nuint)_capacity);
        _used = 0;
    }
}

/// <summary>UTF-8 bytes in native memory: either persistent (outlives the appender's chunks) or transient.</summary>
internal readonly unsafe struct NativeUtf8(byte* pointer, int length, bool persistent)
{
    public byte* Pointer { get; } = pointer;

    public int Length { get; } = length;

    /// <summary>When true the bytes outlive every chunk, so entries may point at them without a copy.</summary>
    public bool Persistent { get; } = persistent;

    public ReadOnlySpan<byte> Span => new(Pointer, Length);
}
