-- Events per trace and event name, most frequent first.
SELECT trace, event, count(*) AS events
FROM events
GROUP BY ALL
ORDER BY trace, events DESC, event;
