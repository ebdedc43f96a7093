throw new Error('msgpackr-extract shim: native acceleration not installed; msgpackr uses its JavaScript decoder');
