

SELECT 1;


