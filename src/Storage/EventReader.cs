using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Pipeline.Storage.DuckDb;

namespace Pipeline.Storage;

/// <summary>Reads events.parquet back as <see cref="EventRow"/>s (replay's input).</summary>
public static class EventReader
{
    /// <summary>
    /// Streams the events of <paramref name="eventsParquetPath"/> in <c>seq</c> order. Files written by
    /// <see cref="DatasetWriter"/> are sorted by <c>(ts_ns, seq)</c>, which is seq order whenever seq was assigned
    /// in timestamp order (the per-CPU merge); a streaming check (<c>seq = file_row_number</c>) confirms that and
    /// the rows are then streamed without sorting. Otherwise DuckDB sorts by seq, within the connection's
    /// memory_limit (spilling to its temp_directory). A returned
    /// <see cref="EventRow"/> is refilled once the caller has moved on: copy it (<see cref="EventRow.Clone"/>)
    /// to keep one. Columns missing from an older file stay unset. Repeated strings (comm, event, symbolic
    /// fields) are shared instances. The rows are decoded on a thread of their own a few thousand
    /// rows ahead of the caller (<see cref="EventReadAhead"/>), so reading overlaps the caller's work.
    /// </summary>
    /// <exception cref="DuckDbException">The file cannot be read.</exception>
    /// <exception cref="InvalidDataException">The args column is not a JSON object of strings (names the file and seq),
    /// thrown when that row's args are first read.</exception>
    public static IEnumerable<EventRow> ReadEvents(DuckDbConnection connection, string eventsParquetPath) =>
        ReadEvents(connection, eventsParquetPath, EventProjection.All);

    /// <summary>
    /// As <see cref="ReadEvents(DuckDbConnection, string)"/>, reading only the columns of <paramref name="columns"/>:
    /// DuckDB does not decode the others, and a row throws <see cref="InvalidOperationException"/> when one of them
    /// is read from it.
    /// </summary>
    /// <exception cref="DuckDbException">The file cannot be read.</exception>
    /// <exception cref="InvalidDataException">The args column is not a JSON object of strings (names the file and seq);
    /// thrown when a row's args are first read (<see cref="EventRow.Args"/>, <see cref="EventRow.FindField"/>), since
    /// rows keep their args JSON unparsed until then.</exception>
    public static IEnumerable<EventRow> ReadEvents(DuckDbConnection connection, string eventsParquetPath, EventProjection columns) =>
        ReadEvents(connection, eventsParquetPath, columns, null);

    /// <summary>
    /// As <see cref="ReadEvents(DuckDbConnection, string, EventProjection)"/>, handing each row to
    /// <paramref name="visit"/> first, in order, on the reading thread, before the caller gets it: work that needs
    /// nothing but the rows (replay's mremap analysis) runs beside the caller's instead of on its thread. An
    /// exception <paramref name="visit"/> throws ends the rows and reaches the caller as a read error does.
    /// </summary>
    /// <exception cref="DuckDbException">The file cannot be read.</exception>
    /// <exception cref="InvalidDataException">The args column is not a JSON object of strings (names the file and seq),
    /// thrown when that row's args are first read.</exception>
    public static IEnumerable<EventRow> ReadEvents(DuckDbConnection connection, string eventsParquetPath, EventProjection columns, Action<EventRow>? visit)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(columns);
        string path = Path.GetFullPath(eventsParquetPath);
        string file = DatasetFiles.SqlLiteral(path);
        bool inSeqOrder = Equals(connection.Scalar(
            $"SELECT count(*) FROM read_parquet({file}, file_row_number = true) WHERE seq IS DISTINCT FROM file_row_number"), 0L);
        // Every schema column the file has, cast to the schema's type (a no-op for files this version writes; an
        // older file's narrower integer is widened, a value that does not fit fails in DuckDB), so the chunk cursor
        // decodes exactly the vector layouts of BIGINT, UBIGINT, INTEGER, BOOLEAN, VARCHAR and VARCHAR[].
        var present = new HashSet<string>(StringComparer.Ordinal);
        using (DuckDbReader describe = connection.Query($"DESCRIBE SELECT * FROM read_parquet({file})"))
        {
            while (describe.Read())
            {
                present.Add(describe.GetString(0));
            }
        }
        var ordinals = new int[EventSchema.Columns.Count];
        var select = new List<string>();
        foreach (EventColumn column in EventSchema.Columns)
        {
            ordinals[column.Ordinal] = columns.Contains(column.Ordinal) && present.Contains(column.Name) ? select.Count : -1;
            if (ordinals[column.Ordinal] >= 0)
            {
                select.Add($"CAST(\"{column.Name}\" AS {column.SqlType})");
            }
        }
        foreach (int required in (ReadOnlySpan<int>)[EventSchema.Seq, EventSchema.TsNs, EventSchema.Cpu, EventSchema.Pid, EventSchema.Comm, EventSchema.Event])
        {
            if (ordinals[required] < 0)
            {
                throw new InvalidDataException($"{path}: column {EventSchema.Columns[required].Name} is missing (expected the event schema of docs/storage.md).");
            }
        }
        string sql = $"SELECT {string.Join(", ", select)} FROM read_parquet({file}){(inSeqOrder ? "" : " ORDER BY seq")}";
        using var pipe = new EventReadAhead(new EventChunkCursor(connection, sql, ordinals, columns.Mask, path, columns.ArgsEvents), visit);
        while (pipe.Next() is { } batch)
        {
            for (int i = 0; i < batch.Count; i++)
            {
                yield return batch.Rows[i];
            }
            pipe.Recycle(batch);
        }
    }

    internal static void ParseArgs(ReadOnlySpan<byte> json, EventRow row, StringPool? pool, string path)
    {
        var reader = new Utf8JsonReader(json);
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                ThrowBadArgs(path, row.Seq, "expected a JSON object");
            }
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                string key = pool?.Get(reader) ?? reader.GetString()!;
                if (!reader.Read() || reader.TokenType != JsonTokenType.String)
                {
                    ThrowBadArgs(path, row.Seq, $"value of '{key}' is {reader.TokenType}, expected a string");
                }
                row.AddArg(key, reader.GetString()!);
            }
        }
        catch (JsonException e)
        {
            ThrowBadArgs(path, row.Seq, e.Message);
        }
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void ThrowBadArgs(string path, long seq, string message) =>
        throw new InvalidDataException(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{path}: seq {seq}: column args: {message}."));

    /// <summary>Interns short repeated UTF-8 strings (names, comms, keys) so reading allocates them once.</summary>
    internal sealed class StringPool
    {
        private const int SlotBits = 12;
        private const int Slots = 1 << SlotBits;
        private const int MaxLength = 64;
        private readonly string?[] _strings = new string?[Slots];
        private readonly byte[]?[] _bytes = new byte[Slots][];

        private readonly Dictionary<string, string> _interned = new(StringComparer.Ordinal);

        /// <summary>The shared instance equal to <paramref name="value"/> (the first <see cref="Slots"/> distinct short values are kept).</summary>
        public string Get(string value)
        {
            if (value.Length > MaxLength)
            {
                return value;
            }
            if (_interned.TryGetValue(value, out string? shared))
            {
                return shared;
            }
            if (_interned.Count < Slots)
            {
                _interned.Add(value, value);
            }
            return value;
        }

        public string Get(ReadOnlySpan<byte> utf8)
        {
            if (utf8.Length > MaxLength)
            {
                return Encoding.UTF8.GetString(utf8);
            }
            int slot = Slot(utf8);
            byte[]? bytes = _bytes[slot];
            if (bytes is not null && utf8.SequenceEqual(bytes))
            {
                return _strings[slot]!;
            }
            string value = Encoding.UTF8.GetString(utf8);
            _bytes[slot] = utf8.ToArray();
            _strings[slot] = value;
            return value;
        }

        /// <summary>
        /// The slot of a short UTF-8 value: eight bytes at a time, multiply and rotate (<see cref="HashCode.AddBytes"/>
        /// took four bytes per call and was a seventh of replay's reading thread). Slots only decide which values
        /// stay cached, never a result, so the hash needs to spread, not to resist collisions.
        /// </summary>
        private static int Slot(ReadOnlySpan<byte> utf8)
        {
            const ulong K = 0x9E3779B97F4A7C15UL;
            ulong h = (ulong)utf8.Length * K;
            int i = 0;
            for (; i + 8 <= utf8.Length; i += 8)
            {
                h = System.Numerics.BitOperations.RotateLeft((h ^ BinaryPrimitives.ReadUInt64LittleEndian(utf8[i..])) * K, 31);
            }
            ulong tail = 0;
            for (int shift = 0; i < utf8.Length; i++, shift += 8)
            {
                tail |= (ulong)utf8[i] << shift;
            }
            h = (h ^ tail) * K;
            return (int)(h >> (64 - SlotBits));
        }

        public string Get(Utf8JsonReader reader) =>
            reader.HasValueSequence || reader.ValueIsEscaped ? reader.GetString()! : Get(reader.ValueSpan);
    }
}
